//! TLS set-up for both sides of FTP over TLS (RFC 4217): the server's certificate (given as
//! PEM files, or a self-signed one made on first use and kept), the per-session
//! configuration that ties data connections to their control connection, and the client's
//! ways to trust a server (the system's trust store, an extra CA, a pinned certificate, or
//! none). The crypto provider is ring (no C toolchain beyond a C compiler, no OpenSSL).

use std::fs;
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The server's certificate and the TLS configurations of its connections.
pub struct ServerTls {
    configs: ConnectionConfigs,
    /// The SHA-256 fingerprint of the certificate, as [`fingerprint`] writes it.
    pub fingerprint: String,
    /// Where the certificate came from, for the startup lines.
    pub origin: String,
    /// What an operator should fix: the certificate's dates ([`validity_warning`]), a key
    /// every user can read ([`key_exposure_warning`]), a name it lacks ([`name_warning`]).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerTls {{ fingerprint: {}, origin: {} }}", self.fingerprint, self.origin)
    }
}

/// The file names of the kept self-signed certificate, in the data folder.
const SELF_SIGNED_CERT: &str = "cert.pem";
const SELF_SIGNED_KEY: &str = "key.pem";

impl ServerTls {
    /// The certificate chain in `cert` (PEM, the server's certificate first) and its key.
    /// New handshakes get what the files hold when they change (see [`CertificateFiles`]).
    /// `announced` is the host clients are told to connect to (`--public-address`), which
    /// the certificate should name.
    pub fn from_files(cert: &Path, key: &Path, announced: Option<&str>) -> io::Result<ServerTls> {
        let mut files = CertificateFiles::open(cert, key)?;
        files.announced = announced.map(str::to_string);
        ServerTls::new(files, format!("from {}", cert.display()))
    }

    /// The self-signed certificate kept in `folder`, made there (for `names`) when there is
    /// none yet: a client that trusted it once (a pin, an exception) keeps trusting it.
    pub fn self_signed(folder: &Path, names: &[String]) -> io::Result<ServerTls> {
        let (cert, key) = (folder.join(SELF_SIGNED_CERT), folder.join(SELF_SIGNED_KEY));
        if !cert.exists() || !key.exists() {
            make_self_signed(folder, names)?;
        }
        ServerTls::new(CertificateFiles::open(&cert, &key)?, format!("self-signed, kept in {}", folder.display()))
    }

    fn new(files: CertificateFiles, origin: String) -> io::Result<ServerTls> {
        let certified = files.current();
        let end_entity = certified.end_entity_cert().map_err(io::Error::other)?;
        let fingerprint = fingerprint(end_entity);
        let warnings = files.warnings(end_entity, unix_now());
        let mut control = rustls::ServerConfig::builder().with_no_client_auth().with_cert_resolver(Arc::new(files));
        // Reusable tickets (a resumption does not consume one): clients such as curl resume
        // the control connection's one session for every transfer. The key is this
        // process's own, so only sessions this server made can resume.
        control.ticketer = rustls::crypto::ring::Ticketer::new().map_err(io::Error::other)?;
        control.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
        // A TLS 1.3 client such as rustls' spends a ticket on each data connection: as
        // many as it keeps (8) on the control connection, and more with each download.
        control.send_tls13_tickets = 8;
        // Downloads seal their records themselves once the handshake is over
        // (crate::protocol::records), which needs the traffic keys out of rustls.
        let mut download = control.clone();
        download.enable_secret_extraction = true;
        // None with an upload: a client that only writes never reads them, and closing a
        // socket with unread bytes sends a reset, which can discard the end of the upload
        // before the server has read it (seen with curl, 1 upload in 5).
        // Also for data connections whose handshake came before the transfer command
        // (crate::server::tcp::EarlyData), which may be downloads: they may seal too.
        let mut upload = download.clone();
        upload.send_tls13_tickets = 0;
        let configs =
            ConnectionConfigs { control: Arc::new(control), download: Arc::new(download), upload: Arc::new(upload) };
        Ok(ServerTls { configs, fingerprint, origin, warnings })
    }

    /// The configurations of the control and data connections.
    pub fn configs(&self) -> &ConnectionConfigs {
        &self.configs
    }
}

/// A new server connection with `config` whose session tickets carry `client` (the
/// control connection's peer address): a data connection must resume a session made for
/// the same client address ([`resumed_for`]), as vsftpd's `require_ssl_reuse` requires a
/// resumed session, so that whoever connects first to a passive port cannot take the data
/// (RFC 4217 §10.2). A client's parallel control connections share their sessions (rclone
/// resumes one connection's session on another's data connection), so the binding is to
/// the address, not to one control connection.
pub fn server_connection(config: &Arc<rustls::ServerConfig>, client: IpAddr) -> io::Result<rustls::ServerConnection> {
    let mut connection = rustls::ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
    connection.set_resumption_data(&client_tag(client));
    Ok(connection)
}

/// Whether `connection` resumed a session this server made for `client` (see
/// [`server_connection`]); under TLS 1.2, any session this server made.
pub fn resumed_for(connection: &rustls::Connection, client: IpAddr) -> bool {
    match connection {
        rustls::Connection::Server(server) => {
            let resumed = server.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            match server.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => {
                    resumed && server.received_resumption_data() == Some(client_tag(client).as_slice())
                }
                // rustls gives no resumption data back under TLS 1.2: resuming proves the
                // peer holds a session this server made (vsftpd's require_ssl_reuse asks
                // no more), and only the client's own address may connect to a data port.
                _ => resumed,
            }
        }
        rustls::Connection::Client(_) => false,
    }
}

/// The address as resumption data: its canonical form's bytes.
fn client_tag(client: IpAddr) -> Vec<u8> {
    match client.to_canonical() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// The TLS configurations of a server ([`ServerTls::configs`]): for its control
/// connections, and for data connections that send (downloads, listings) or receive.
pub struct ConnectionConfigs {
    pub control: Arc<rustls::ServerConfig>,
    pub download: Arc<rustls::ServerConfig>,
    pub upload: Arc<rustls::ServerConfig>,
}

/// The server's certificate and key files, read again when either changes (a renewal, as
/// certbot's, replaces them while the server runs; SIGHUP stops the server, SPEC §3.5, so
/// a change of the files is the signal). Each handshake looks at the files' status (two
/// `stat` calls, nothing beside a handshake's cryptography); when it differs from the last
/// reading, the files are read again. A pair that does not parse or whose key does not go
/// with the certificate (one file written before the other, say) is refused with a line on
/// stderr, and handshakes keep the certificate they had until the files change again.
#[derive(Debug)]
struct CertificateFiles {
    cert: PathBuf,
    key: PathBuf,
    /// The host clients are told to connect to, when the operator gave one.
    announced: Option<String>,
    served: Mutex<Served>,
}

/// The certificate handshakes get, the files' status when they were last read, and the
/// day (since the epoch) its dates were last looked at.
#[derive(Debug)]
struct Served {
    certified: Arc<CertifiedKey>,
    read_at: [Option<FileStatus>; 2],
    dates_seen_on: i64,
}

impl Served {
    /// The certificate's date warning ([`validity_warning`]) at `now`, once a day: a
    /// server that runs for months passes into the weeks before its certificate's end
    /// without a start or a renewal to say so.
    fn daily_warning(&mut self, now: i64) -> Option<String> {
        let today = day_number(now);
        if today == self.dates_seen_on {
            return None;
        }
        self.dates_seen_on = today;
        validity_warning(self.certified.end_entity_cert().ok()?, now)
    }
}

/// What tells a file changed: another file put in its place (a rename, a link moved to a
/// new target), or the same file written (its size or modification time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStatus {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
}

impl FileStatus {
    /// The status of the file `path` names, links followed; None when there is none.
    fn of(path: &Path) -> Option<FileStatus> {
        let meta = fs::metadata(path).ok()?;
        Some(FileStatus {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified: (meta.mtime(), meta.mtime_nsec()),
        })
    }
}

impl CertificateFiles {
    /// Reads the certificate chain in `cert` (PEM, the server's certificate first) and its
    /// key in `key`; an error says which file is wrong and why.
    fn open(cert: &Path, key: &Path) -> io::Result<CertificateFiles> {
        let read_at = CertificateFiles::statuses(cert, key);
        let certified = Arc::new(read_certified_key(cert, key)?);
        // Today's warning, if any, is in the start lines (ServerTls::warnings).
        let dates_seen_on = day_number(unix_now());
        let served = Mutex::new(Served { certified, read_at, dates_seen_on });
        Ok(CertificateFiles { cert: cert.to_path_buf(), key: key.to_path_buf(), announced: None, served })
    }

    /// What is wrong with the certificate `der` read from these files at `now`, for the
    /// operator.
    fn warnings(&self, der: &[u8], now: i64) -> Vec<String> {
        let dates = validity_warning(der, now);
        let name = self.announced.as_deref().and_then(|host| name_warning(der, host));
        dates.into_iter().chain(name).chain(key_exposure_warning(&self.key)).collect()
    }

    fn statuses(cert: &Path, key: &Path) -> [Option<FileStatus>; 2] {
        [FileStatus::of(cert), FileStatus::of(key)]
    }

    /// The certificate for a handshake starting now: the files are read again first when
    /// they changed since the last reading. A problem with its dates is said on the
    /// day's first handshake.
    fn current(&self) -> Arc<CertifiedKey> {
        // The status is taken before the files are read: a change made during the reading
        // shows as a change at the next handshake, never as one already seen.
        let status = CertificateFiles::statuses(&self.cert, &self.key);
        let now = unix_now();
        let mut served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
        if status != served.read_at {
            served.read_at = status;
            match read_certified_key(&self.cert, &self.key) {
                Ok(certified) => {
                    if let Ok(der) = certified.end_entity_cert() {
                        crate::diag!(
                            "tls: certificate read again from {}: SHA-256 fingerprint {}",
                            self.cert.display(),
                            fingerprint(der)
                        );
                        for warning in self.warnings(der, now) {
                            crate::diag!("tls: warning: {warning}");
                        }
                    }
                    served.certified = Arc::new(certified);
                    // Today's date warning was just given with the others.
                    served.dates_seen_on = day_number(now);
                }
                Err(err) => crate::diag!("tls: {err}; new connections keep the previous certificate"),
            }
        }
        if let Some(warning) = served.daily_warning(now) {
            crate::diag!("tls: warning: {warning}");
        }
        Arc::clone(&served.certified)
    }
}

impl ResolvesServerCert for CertificateFiles {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The certificate chain in `cert` and the key in `key`, checked to go together.
fn read_certified_key(cert: &Path, key: &Path) -> io::Result<CertifiedKey> {
    let chain = read_certificates(cert)?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| io::Error::other(format!("cannot read a private key from {}: {err}", key.display())))?;
    CertifiedKey::from_der(chain, key_der, &rustls::crypto::ring::default_provider()).map_err(|err| {
        io::Error::other(format!(
            "the certificate in {} and the key in {} do not go together: {err}",
            cert.display(),
            key.display()
        ))
    })
}

/// A warning when the certificate `der` does not name `host` (a DNS name or an address),
/// the host clients are told to connect to: clients that check names refuse it. rustls'
/// own checker decides, as a client would.
fn name_warning(der: &[u8], host: &str) -> Option<String> {
    let name = server_name(host).ok()?;
    check_name(&CertificateDer::from(der), &name).err().map(|_| {
        format!(
            "the certificate does not name {host}, the address clients are told (--public-address); clients \
             that check names will refuse it"
        )
    })
}

/// Whether the certificate `der` names `name`, by rustls' own checker, as a client decides.
fn check_name(der: &CertificateDer<'_>, name: &ServerName<'_>) -> Result<(), webpki::Error> {
    webpki::EndEntityCert::try_from(der)?.verify_is_valid_for_subject_name(name)
}

/// A warning when the key file `key` can be read by every user of this machine (ssh
/// refuses such a private key). A group may read it, as Debian's `ssl-cert` group does.
fn key_exposure_warning(key: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(key).ok()?.permissions().mode() & 0o7777;
    (mode & 0o004 != 0).then(|| {
        format!(
            "the key in {} can be read by every user of this machine (mode {mode:04o}); chmod o-r {}",
            key.display(),
            key.display()
        )
    })
}

/// How long before its end a certificate's coming expiry is worth a warning: a renewal
/// (certbot renews 30 days ahead) has failed by then.
const EXPIRY_WARNING_SECONDS: i64 = 21 * 86_400;

/// What an operator should hear about the dates of the certificate `der` (DER) at `now`
/// (Unix seconds): not valid yet, expired, or expiring within [`EXPIRY_WARNING_SECONDS`];
/// None when it is fine or its dates cannot be read (rustls has accepted it either way).
pub fn validity_warning(der: &[u8], now: i64) -> Option<String> {
    match dates_at(der, now)? {
        Dates::NotYet(not_before) => Some(format!(
            "the certificate is not valid until {}; clients that check it refuse it",
            utc_minute(not_before)
        )),
        Dates::Expired(not_after) => {
            Some(format!("the certificate expired on {}; clients that check it refuse it", utc_minute(not_after)))
        }
        Dates::Valid(not_after) if not_after - now < EXPIRY_WARNING_SECONDS => {
            let days = (not_after - now) / 86_400;
            Some(format!("the certificate expires on {} (in {days} days); renew it", utc_minute(not_after)))
        }
        Dates::Valid(_) => None,
    }
}

/// Where a time falls in a certificate's validity period, with the bound that matters
/// (Unix seconds).
enum Dates {
    /// Before notBefore.
    NotYet(i64),
    /// At or after notAfter.
    Expired(i64),
    /// Within the period, which ends at notAfter.
    Valid(i64),
}

/// Where `now` falls in the validity period of the certificate `der`; None when its dates
/// cannot be read.
fn dates_at(der: &[u8], now: i64) -> Option<Dates> {
    let (not_before, not_after) = certificate_validity(der)?;
    Some(if now < not_before {
        Dates::NotYet(not_before)
    } else if now >= not_after {
        Dates::Expired(not_after)
    } else {
        Dates::Valid(not_after)
    })
}

/// A certificate as the client's dialogue shows it (`-v`): its fingerprint and, when they
/// can be read, its dates.
pub fn describe_certificate(der: &[u8]) -> String {
    let print = fingerprint(der);
    match certificate_validity(der) {
        Some((from, to)) => format!("SHA-256 {print}, valid from {} to {}", utc_minute(from), utc_minute(to)),
        None => format!("SHA-256 {print}"),
    }
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc_minute(seconds: i64) -> String {
    format!("{} UTC", crate::protocol::timestamp::date_and_minute(seconds))
}

/// The day `seconds` falls on, counted from the epoch (what "once a day" compares).
fn day_number(seconds: i64) -> i64 {
    seconds.div_euclid(86_400)
}

fn unix_now() -> i64 {
    crate::protocol::timestamp::unix_seconds(std::time::SystemTime::now())
}

/// The validity period (notBefore, notAfter as Unix seconds) of an X.509 certificate in
/// DER (RFC 5280 §4.1): Certificate and TBSCertificate are SEQUENCEs, and validity is the
/// TBSCertificate's fifth field counting the optional [0] version. Only this walk is
/// needed, so no X.509 crate; None for anything that is not shaped so.
fn certificate_validity(der: &[u8]) -> Option<(i64, i64)> {
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0;
    let (SEQUENCE, certificate, _) = der_element(der)? else { return None };
    let (SEQUENCE, mut fields, _) = der_element(certificate)? else { return None };
    if let (VERSION, _, after) = der_element(fields)? {
        fields = after;
    }
    for _serial_signature_issuer in 0..3 {
        fields = der_element(fields)?.2;
    }
    let (SEQUENCE, validity, _) = der_element(fields)? else { return None };
    let (not_before_tag, not_before, rest) = der_element(validity)?;
    let (not_after_tag, not_after, _) = der_element(rest)?;
    Some((der_time(not_before_tag, not_before)?, der_time(not_after_tag, not_after)?))
}

/// The DER element at the start of `der`: its tag, its contents and what follows it
/// (single-byte tags, definite lengths, as a certificate's outer fields are).
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        (rest[..count].iter().fold(0usize, |len, &b| len << 8 | usize::from(b)), &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A certificate time: UTCTime `YYMMDDHHMMSSZ` (years 1950-2049) or GeneralizedTime
/// `YYYYMMDDHHMMSSZ`, as RFC 5280 §4.1.2.5 allows them.
fn der_time(tag: u8, text: &[u8]) -> Option<i64> {
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    let number =
        |digits: &[u8]| digits.iter().try_fold(0i64, |n, &b| b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0')));
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let short = number(&text[..2])?;
            (if short >= 50 { 1900 + short } else { 2000 + short }, &text[2..])
        }
        (GENERALIZED_TIME, 15) => (number(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let field = |at: usize| number(&rest[at..at + 2]);
    Some(crate::protocol::timestamp::seconds_from_civil(year, field(0)?, field(2)?, field(4)?, field(6)?, field(8)?))
}

/// Reads every certificate of a PEM file.
fn read_certificates(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| io::Error::other(format!("cannot read certificates from {}: {err}", path.display())))?;
    if chain.is_empty() {
        return Err(io::Error::other(format!("{} holds no certificate", path.display())));
    }
    Ok(chain)
}

/// Makes a self-signed certificate for `names` (host names and addresses) in `folder`; the
/// key is readable by its owner only.
fn make_self_signed(folder: &Path, names: &[String]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::create_dir_all(folder)?;
    let made = rcgen::generate_simple_self_signed(names.to_vec()).map_err(io::Error::other)?;
    let write_new = |name: &str, mode: u32, text: &str| -> io::Result<()> {
        use io::Write;
        let temporary = folder.join(format!(".{name}.{}", std::process::id()));
        let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, folder.join(name))
    };
    // The key first: a certificate without its key would be kept and fail every start.
    write_new(SELF_SIGNED_KEY, 0o600, &made.signing_key.serialize_pem())?;
    write_new(SELF_SIGNED_CERT, 0o644, &made.cert.pem())
}

/// Where the self-signed certificate is kept: `$XDG_DATA_HOME/minftp/tls`, or
/// `~/.local/share/minftp/tls`.
pub fn data_folder() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()).map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|home| Path::new(&home).join(".local/share"))
    })?;
    Some(base.join("minftp").join("tls"))
}

/// The SHA-256 of a certificate (its DER bytes) as `AB:CD:…`, as `openssl x509
/// -fingerprint -sha256` and browsers show it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// A SHA-256 fingerprint as a user may paste it: 64 hex digits, with or without colons,
/// in either case.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("expected a SHA-256 fingerprint: 64 hexadecimal digits, colons allowed".into());
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(bytes)
}

/// How a client decides to trust a server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's trust store, and the CA certificates of a PEM file when given.
    Verified { extra_ca: Option<PathBuf> },
    /// Exactly the certificate with this SHA-256 (a self-signed server's, printed by
    /// `minftp serve --tls`); names and dates are not checked, as with ssh's known hosts.
    Pinned([u8; 32]),
    /// Any certificate (`--insecure`): encrypted, but open to whoever sits in between.
    Anything,
}

/// The client configuration for `trust`; data connections share it, so they resume the
/// control connection's session (rustls' client keeps sessions in memory by default). With
/// TLS 1.3 each resumption spends one of the tickets the server sent (RFC 8446 advises
/// single use); the client reads each data connection to its end, so tickets sent there
/// are kept too (crate::client::ftp).
pub fn client_config(trust: &Trust) -> io::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let check = match trust {
        Trust::Verified { extra_ca } => {
            let mut roots = rustls::RootCertStore::empty();
            // A missing or unreadable system store is not fatal: --cacert may be enough.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            let mut given = Vec::new();
            if let Some(path) = extra_ca {
                for cert in read_certificates(path)? {
                    roots.add(cert.clone()).map_err(|err| {
                        io::Error::other(format!("{} is not a usable CA certificate: {err}", path.display()))
                    })?;
                    given.push(cert);
                }
            }
            if roots.is_empty() {
                return Err(io::Error::other(
                    "no trusted certificates: the system has no trust store; give --cacert FILE or --pin-sha256",
                ));
            }
            let verifier =
                rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(io::Error::other)?;
            Check::Trusted { verifier, given }
        }
        Trust::Pinned(sha256) => Check::Pinned(*sha256),
        Trust::Anything => Check::Anything,
    };
    let verifier = CertificateCheck { check, algorithms: provider.signature_verification_algorithms };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `host` (a DNS name, an address, an IPv6 address in brackets) as certificates name it.
fn server_name(host: &str) -> Result<ServerName<'static>, rustls::pki_types::InvalidDnsNameError> {
    ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_string())
}

/// A new client connection to `host` (a name or an address) with `config`.
pub fn client_connection(config: &Arc<rustls::ClientConfig>, host: &str) -> io::Result<rustls::ClientConnection> {
    let name = server_name(host)
        .map_err(|err| io::Error::other(format!("{host} cannot be checked against a certificate: {err}")))?;
    rustls::ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)
}

/// How the client checks a server's certificate, as [`Trust`] says. The handshake's
/// signatures are verified the same way under each, so the server must hold the
/// certificate's key even when the certificate itself is not checked.
#[derive(Debug)]
struct CertificateCheck {
    check: Check,
    algorithms: WebPkiSupportedAlgorithms,
}

#[derive(Debug)]
enum Check {
    /// Against trusted CAs (rustls' own check), with one thing added: a certificate no
    /// trusted CA signed is refused with its fingerprint and how to trust it. That is
    /// what a first connection to a self-signed server meets, where curl says only
    /// "self-signed certificate" and leaves the user to find `-k`. A server certificate
    /// that is itself one of `given` (`--cacert`) is trusted directly, as OpenSSL and so
    /// curl do: the self-signed certificate `openssl req -x509` makes is marked as a CA,
    /// which rustls will not take for a server's, yet the user named that very one.
    Trusted { verifier: Arc<rustls::client::WebPkiServerVerifier>, given: Vec<CertificateDer<'static>> },
    /// Exactly this certificate (by SHA-256); names, dates and issuers are not looked at.
    Pinned([u8; 32]),
    /// Any certificate.
    Anything,
}

/// A refusal of the server's certificate that says why and what to do.
fn explained_refusal(why: String) -> Result<ServerCertVerified, rustls::Error> {
    let why: Box<dyn std::error::Error + Send + Sync> = why.into();
    let other = rustls::CertificateError::Other(rustls::OtherError(why.into()));
    Err(rustls::Error::InvalidCertificate(other))
}

/// The checks left for a server certificate the user gave as trusted (`--cacert`): that
/// it names `server_name` and is valid `now`. Its issuer is itself, and the handshake's
/// signature, verified apart, shows the server holds its key.
fn directly_trusted(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    use rustls::CertificateError;
    let refused = |error| Err(rustls::Error::InvalidCertificate(error));
    match check_name(end_entity, server_name) {
        Ok(()) => {}
        Err(webpki::Error::CertNotValidForName(names)) => {
            return refused(CertificateError::NotValidForNameContext {
                expected: names.expected,
                presented: names.presented,
            });
        }
        Err(webpki::Error::BadDer) => return refused(CertificateError::BadEncoding),
        Err(_) => return refused(CertificateError::NotValidForName),
    }
    let at = |seconds: i64| UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds.max(0).unsigned_abs()));
    match dates_at(end_entity, i64::try_from(now.as_secs()).unwrap_or(i64::MAX)) {
        None => refused(CertificateError::BadEncoding),
        Some(Dates::NotYet(not_before)) => {
            refused(CertificateError::NotValidYetContext { time: now, not_before: at(not_before) })
        }
        Some(Dates::Expired(not_after)) => {
            refused(CertificateError::ExpiredContext { time: now, not_after: at(not_after) })
        }
        Some(Dates::Valid(_)) => Ok(ServerCertVerified::assertion()),
    }
}

/// Whether rustls refused a certificate because it is a CA's (webpki's
/// `CaUsedAsEndEntity`, which rustls passes on as an "other" error).
fn is_ca_used_as_server(error: &rustls::Error) -> bool {
    matches!(error, rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))
        if matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity)))
}

impl ServerCertVerifier for CertificateCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.check {
            Check::Trusted { verifier, given } => {
                match verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
                    Err(_) if given.iter().any(|cert| cert.as_ref() == end_entity.as_ref()) => {
                        directly_trusted(end_entity, server_name, now)
                    }
                    Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
                        let print = fingerprint(end_entity);
                        explained_refusal(format!(
                            "no CA this system trusts signed it (a self-signed server?). Its SHA-256 fingerprint is \
                             {print}: if the server's operator sees the same (minftp serve --tls prints it at \
                             start), add --pin-sha256 {print}; or --cacert FILE with the CA that signed it"
                        ))
                    }
                    Err(error) if is_ca_used_as_server(&error) => {
                        let print = fingerprint(end_entity);
                        explained_refusal(format!(
                            "it is marked as a CA's certificate, not a server's (as `openssl req -x509` makes a \
                             self-signed one). Its SHA-256 fingerprint is {print}: if the server's operator sees the \
                             same, add --pin-sha256 {print}, or give this very certificate with --cacert FILE"
                        ))
                    }
                    verdict => verdict,
                }
            }
            Check::Pinned(pin) if ring::digest::digest(&ring::digest::SHA256, end_entity).as_ref() != pin => {
                Err(rustls::Error::General(format!(
                    "the server's certificate has the SHA-256 fingerprint {}, not the one given with --pin-sha256",
                    fingerprint(end_entity)
                )))
            }
            Check::Pinned(_) | Check::Anything => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_as_printed_and_as_pasted() {
        let printed = fingerprint(b"any bytes");
        assert_eq!(printed.len(), 32 * 3 - 1);
        let parsed = parse_fingerprint(&printed).unwrap();
        assert_eq!(parse_fingerprint(&printed.replace(':', "").to_lowercase()).unwrap(), parsed);
        assert_eq!(ring::digest::digest(&ring::digest::SHA256, b"any bytes").as_ref(), parsed);
        assert!(parse_fingerprint("AB:CD").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn a_self_signed_certificate_is_made_once_and_kept() {
        let folder = tempfile::tempdir().unwrap();
        let store = folder.path().join("tls");
        let first = ServerTls::self_signed(&store, &["localhost".into(), "127.0.0.1".into()]).unwrap();
        let again = ServerTls::self_signed(&store, &["other".into()]).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint, "the kept certificate is used again");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(store.join(SELF_SIGNED_KEY)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is its owner's alone");
    }

    /// Writes a new self-signed certificate and key as PEM; returns them and the
    /// certificate's fingerprint.
    fn made_pair() -> (String, String, String) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        (made.cert.pem(), made.signing_key.serialize_pem(), fingerprint(made.cert.der()))
    }

    /// Puts `text` in place of `path` as a renewal does: written aside, then renamed over.
    fn replace(path: &Path, text: &str) {
        let aside = path.with_extension("new");
        fs::write(&aside, text).unwrap();
        fs::rename(&aside, path).unwrap();
    }

    /// A certificate valid from `not_before` to `not_after` ((year, month, day)), as DER.
    fn dated(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_certificates_dates_are_read_in_both_time_forms() {
        use crate::protocol::timestamp::seconds_from_civil;
        // rcgen writes years before 2050 as UTCTime and later ones as GeneralizedTime.
        let der = dated((2020, 2, 29), (2090, 12, 31));
        let expected = (seconds_from_civil(2020, 2, 29, 0, 0, 0), seconds_from_civil(2090, 12, 31, 0, 0, 0));
        assert_eq!(certificate_validity(&der), Some(expected));
        let der = dated((1999, 1, 1), (2049, 6, 30));
        let expected = (seconds_from_civil(1999, 1, 1, 0, 0, 0), seconds_from_civil(2049, 6, 30, 0, 0, 0));
        assert_eq!(certificate_validity(&der), Some(expected));
        assert_eq!(certificate_validity(&der[..der.len() / 2]), None, "a cut certificate has no dates");
    }

    #[test]
    fn a_host_the_certificate_does_not_name_gets_a_warning() {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let der = made.cert.der();
        for named in ["localhost", "127.0.0.1", "LOCALHOST"] {
            assert_eq!(name_warning(der, named), None, "{named}");
        }
        for other in ["127.0.0.2", "files.example.org", "[::1]"] {
            let warning = name_warning(der, other).unwrap_or_default();
            assert!(warning.contains(&format!("does not name {other}")), "{other}: {warning}");
        }
    }

    #[test]
    fn certificate_dates_warn_before_during_the_last_weeks_and_after() {
        use crate::protocol::timestamp::seconds_from_civil;
        let der = dated((2026, 1, 1), (2027, 1, 1));
        let at = |year, month, day| seconds_from_civil(year, month, day, 12, 0, 0);
        let warning = |now| validity_warning(&der, now).unwrap_or_default();
        assert!(warning(at(2025, 12, 31)).contains("not valid until 2026-01-01 00:00 UTC"));
        assert_eq!(validity_warning(&der, at(2026, 6, 1)), None);
        assert_eq!(validity_warning(&der, at(2026, 12, 10)), None, "22 days left: no warning yet");
        assert!(warning(at(2026, 12, 12)).contains("expires on 2027-01-01 00:00 UTC (in 19 days)"));
        assert!(warning(at(2027, 1, 1)).contains("expired on 2027-01-01 00:00 UTC"));
        assert_eq!(validity_warning(b"junk", at(2026, 6, 1)), None);
    }

    #[test]
    fn a_certificates_date_warning_comes_once_a_day() {
        use crate::protocol::timestamp::seconds_from_civil;
        let der = dated((2026, 1, 1), (2027, 1, 1));
        // Only the certificate's dates are read here; any key will do.
        let key = PrivateKeyDer::try_from(rcgen::KeyPair::generate().unwrap().serialize_der()).unwrap();
        let key = rustls::crypto::ring::default_provider().key_provider.load_private_key(key).unwrap();
        let certified = Arc::new(CertifiedKey::new(vec![CertificateDer::from(der)], key));
        let mut served = Served { certified, read_at: [None, None], dates_seen_on: i64::MIN };
        let at = |day, hour| seconds_from_civil(2026, 12, day, hour, 0, 0);
        assert_eq!(served.daily_warning(at(1, 9)), None, "31 days left");
        let first = served.daily_warning(at(20, 9)).unwrap_or_default();
        assert!(first.contains("expires on 2027-01-01 00:00 UTC (in 11 days)"), "{first}");
        assert_eq!(served.daily_warning(at(20, 18)), None, "once that day");
        assert!(served.daily_warning(at(21, 0)).is_some(), "again the next day");
    }

    proptest::proptest! {
        /// Any bytes, or a real certificate changed anywhere, are read without a panic.
        #[test]
        fn certificate_dates_are_read_from_any_bytes_without_a_panic(
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            at in 0usize..2000,
            byte in proptest::prelude::any::<u8>(),
        ) {
            let _ = certificate_validity(&junk);
            let mut der = dated((2020, 1, 1), (2090, 1, 1));
            let at = at % der.len();
            der[at] = byte;
            let _ = certificate_validity(&der);
            let _ = validity_warning(&der, 0);
        }
    }

    #[test]
    fn changed_certificate_files_are_read_again_and_unusable_ones_keep_the_previous() {
        let folder = tempfile::tempdir().unwrap();
        let (cert, key) = (folder.path().join("cert.pem"), folder.path().join("key.pem"));
        let (first_cert, first_key, first) = made_pair();
        let (second_cert, second_key, second) = made_pair();
        fs::write(&cert, &first_cert).unwrap();
        fs::write(&key, &first_key).unwrap();
        let files = CertificateFiles::open(&cert, &key).unwrap();
        let served = || fingerprint(files.current().end_entity_cert().unwrap());
        assert_eq!(served(), first);
        // The certificate renewed before its key: refused, the first pair stays.
        replace(&cert, &second_cert);
        assert_eq!(served(), first, "a certificate whose key has not arrived yet is not served");
        replace(&key, &second_key);
        assert_eq!(served(), second, "the renewed pair is served once both files are in place");
        // A file written over in place, with junk: refused, the second pair stays.
        fs::write(&cert, "not a certificate").unwrap();
        assert_eq!(served(), second);
        fs::remove_file(&key).unwrap();
        assert_eq!(served(), second, "a missing file keeps the certificate too");
        fs::write(&cert, &first_cert).unwrap();
        fs::write(&key, &first_key).unwrap();
        assert_eq!(served(), first);
        assert!(Arc::ptr_eq(&files.current(), &files.current()), "unchanged files are not read again");
    }
}
