
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'minftp' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'minftp'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'minftp' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve files over FTP. The default dialect is the COMP 431 course''s (eight commands, its exact transcript on standard output); --extended serves real FTP clients')
            [CompletionResult]::new('client', 'client', [CompletionResultType]::ParameterValue, 'Run the COMP 431 client session read from standard input, or with --lab the COSC 328 session (OPEN, GET, PUT, CLOSE, QUIT, HELP) typed by a person')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Download files, globs or trees, with resume, retries, parallel connections and progress')
            [CompletionResult]::new('put', 'put', [CompletionResultType]::ParameterValue, 'Upload files or trees, with resume, retries, parallel connections and progress')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List a remote folder: names, a long form, or JSON, the same whatever the server')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            break
        }
        'minftp;serve' {
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Folder to serve [default: ., or server with --lab]')
            [CompletionResult]::new('--bind', '--bind', [CompletionResultType]::ParameterName, 'Address to listen on, IPv4 or IPv6 [default: 0.0.0.0; 127.0.0.1 with --lab]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Require this user name (extended dialect only; default: anonymous, any password)')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Require this password with --user (or set MINFTP_PASSWORD, which keeps it out of `ps`)')
            [CompletionResult]::new('--banner', '--banner', [CompletionResultType]::ParameterName, 'The greeting''s text (extended dialect) [default: minftp FTP server ready.]')
            [CompletionResult]::new('--public-address', '--public-address', [CompletionResultType]::ParameterName, 'Address announced in PASV replies behind NAT or in a container: an IP, or a name resolved at each PASV (EPSV needs none)')
            [CompletionResult]::new('--log', '--log', [CompletionResultType]::ParameterName, 'Append an access log to FILE: a line per session start and end, transfer, change, login')
            [CompletionResult]::new('--max-per-ip', '--max-per-ip', [CompletionResultType]::ParameterName, 'Most sessions one client address may hold at once; more get 421')
            [CompletionResult]::new('--max-rate', '--max-rate', [CompletionResultType]::ParameterName, 'Most bytes per second one session may move on its data connections')
            [CompletionResult]::new('--passive-ports', '--passive-ports', [CompletionResultType]::ParameterName, 'Ports for passive data connections, as FIRST-LAST [default: any free port]')
            [CompletionResult]::new('--max-clients', '--max-clients', [CompletionResultType]::ParameterName, 'Most sessions served at once; more get 421')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Seconds a control connection may stay silent (at most a day)')
            [CompletionResult]::new('--data-timeout', '--data-timeout', [CompletionResultType]::ParameterName, 'Seconds to connect or accept, and to wait on each read or write, on a data connection (at most a day)')
            [CompletionResult]::new('--max-line', '--max-line', [CompletionResultType]::ParameterName, 'Longest command line in bytes, line ending included (16 to 16 MiB)')
            [CompletionResult]::new('--tls-implicit-port', '--tls-implicit-port', [CompletionResultType]::ParameterName, 'With --tls: also listen on PORT for implicit TLS (ftps://, usually 990), beside the explicit port (0: a free port, shown at start)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Certificate chain for TLS, PEM (the server''s certificate first); it and --key are read again for new connections when they change, so a renewal needs no restart')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Private key of --cert, PEM')
            [CompletionResult]::new('--stdin', '--stdin', [CompletionResultType]::ParameterName, 'COMP 431 Homework 1 mode: read commands from standard input, no sockets')
            [CompletionResult]::new('--extended', '--extended', [CompletionResultType]::ParameterName, 'Answer the command set real FTP clients need (curl, wget, lftp, FileZilla, ftplib)')
            [CompletionResult]::new('--writable', '--writable', [CompletionResultType]::ParameterName, 'Allow uploads and changes (implies --extended)')
            [CompletionResult]::new('--lab', '--lab', [CompletionResultType]::ParameterName, 'COSC 328 preset: --root server --writable (creates server/ if missing)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Write the access log to standard error too')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Write the access log to standard error too')
            [CompletionResult]::new('--transcript-sessions', '--transcript-sessions', [CompletionResultType]::ParameterName, 'Prefix each transcript line with its session''s number (extended dialect)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'FTP over TLS (extended dialect): AUTH TLS required before login, PROT P for data. Without --cert, a self-signed certificate is made once and kept; its fingerprint is printed at start')
            [CompletionResult]::new('--tls-optional', '--tls-optional', [CompletionResultType]::ParameterName, 'With --tls: let clear-text clients in too')
            [CompletionResult]::new('--tls-implicit', '--tls-implicit', [CompletionResultType]::ParameterName, 'TLS from the first byte (ftps://, usually port 990) instead of AUTH TLS; implies --tls')
            [CompletionResult]::new('--tls-no-reuse-check', '--tls-no-reuse-check', [CompletionResultType]::ParameterName, 'Accept PROT P data connections that resume no TLS session of the same client (for clients that cannot, such as Python''s ftplib by default)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'minftp;client' {
            [CompletionResult]::new('--data-ip', '--data-ip', [CompletionResultType]::ParameterName, 'IPv4 address to advertise in PORT (default: this host''s name, resolved)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait to connect, for a reply, or for the data connection (at most a day)')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Local folder of the lab session')
            [CompletionResult]::new('--lab', '--lab', [CompletionResultType]::ParameterName, 'COSC 328 session: OPEN/GET/PUT/CLOSE/QUIT between client/ and server/')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'minftp;get' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Local file, or - for standard output; the folder for several files or a tree')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Local file, or - for standard output; the folder for several files or a tree')
            [CompletionResult]::new('--max-filesize', '--max-filesize', [CompletionResultType]::ParameterName, 'Abort a download larger than this many bytes (one file; nothing is kept)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name (default: from the URL, else ~/.netrc, else anonymous)')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password (default: from the URL, else ~/.netrc, else asked for on a terminal)')
            [CompletionResult]::new('--netrc-file', '--netrc-file', [CompletionResultType]::ParameterName, 'Read logins from FILE instead of ~/.netrc (the format curl, wget, lftp and ftp read)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait to connect, for a reply, or for data')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'Trust the CA certificates in FILE (PEM) as well as the system''s')
            [CompletionResult]::new('--pin-sha256', '--pin-sha256', [CompletionResultType]::ParameterName, 'Trust exactly the certificate with this SHA-256 fingerprint, as `minftp serve --tls` prints it (colons optional): for self-signed servers')
            [CompletionResult]::new('--retry', '--retry', [CompletionResultType]::ParameterName, 'Attempts after the first when the connection breaks, times out or gets a 4xx (0: none)')
            [CompletionResult]::new('--retry-delay', '--retry-delay', [CompletionResultType]::ParameterName, 'Seconds before the first retry; each further one waits twice as long (at most 60)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Control connections at once for several files or a tree')
            [CompletionResult]::new('--parallel', '--parallel', [CompletionResultType]::ParameterName, 'Control connections at once for several files or a tree')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Do not overwrite an existing local file (one file)')
            [CompletionResult]::new('--no-clobber', '--no-clobber', [CompletionResultType]::ParameterName, 'Do not overwrite an existing local file (one file)')
            [CompletionResult]::new('--active', '--active', [CompletionResultType]::ParameterName, 'Use an active data connection (PORT/EPRT)')
            [CompletionResult]::new('--passive', '--passive', [CompletionResultType]::ParameterName, 'Use a passive data connection only (EPSV/PASV)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show the FTP dialogue on standard error, as curl -v: commands sent (a password as ****), replies, connections and TLS handshakes; no progress bar')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show the FTP dialogue on standard error, as curl -v: commands sent (a password as ****), replies, connections and TLS handshakes; no progress bar')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Require TLS (AUTH TLS, PBSZ 0, PROT P); a server that refuses it is left before the login is sent. An ftpes:// URL means the same; an ftps:// URL means TLS from the first byte instead')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Continue a partial file: the local one (get) or the remote one (put)')
            [CompletionResult]::new('--continue', '--continue', [CompletionResultType]::ParameterName, 'Continue a partial file: the local one (get) or the remote one (put)')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Transfer folders and everything in them')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Transfer folders and everything in them')
            [CompletionResult]::new('--newer', '--newer', [CompletionResultType]::ParameterName, 'Skip files whose copy already has the same size and is not older (as lftp mirror --only-newer), so that a second run of a mirror transfers nothing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'minftp;put' {
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name (default: from the URL, else ~/.netrc, else anonymous)')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password (default: from the URL, else ~/.netrc, else asked for on a terminal)')
            [CompletionResult]::new('--netrc-file', '--netrc-file', [CompletionResultType]::ParameterName, 'Read logins from FILE instead of ~/.netrc (the format curl, wget, lftp and ftp read)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait to connect, for a reply, or for data')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'Trust the CA certificates in FILE (PEM) as well as the system''s')
            [CompletionResult]::new('--pin-sha256', '--pin-sha256', [CompletionResultType]::ParameterName, 'Trust exactly the certificate with this SHA-256 fingerprint, as `minftp serve --tls` prints it (colons optional): for self-signed servers')
            [CompletionResult]::new('--retry', '--retry', [CompletionResultType]::ParameterName, 'Attempts after the first when the connection breaks, times out or gets a 4xx (0: none)')
            [CompletionResult]::new('--retry-delay', '--retry-delay', [CompletionResultType]::ParameterName, 'Seconds before the first retry; each further one waits twice as long (at most 60)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Control connections at once for several files or a tree')
            [CompletionResult]::new('--parallel', '--parallel', [CompletionResultType]::ParameterName, 'Control connections at once for several files or a tree')
            [CompletionResult]::new('--create-dirs', '--create-dirs', [CompletionResultType]::ParameterName, 'Create the remote folders the upload goes into when they are missing')
            [CompletionResult]::new('--active', '--active', [CompletionResultType]::ParameterName, 'Use an active data connection (PORT/EPRT)')
            [CompletionResult]::new('--passive', '--passive', [CompletionResultType]::ParameterName, 'Use a passive data connection only (EPSV/PASV)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show the FTP dialogue on standard error, as curl -v: commands sent (a password as ****), replies, connections and TLS handshakes; no progress bar')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show the FTP dialogue on standard error, as curl -v: commands sent (a password as ****), replies, connections and TLS handshakes; no progress bar')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Require TLS (AUTH TLS, PBSZ 0, PROT P); a server that refuses it is left before the login is sent. An ftpes:// URL means the same; an ftps:// URL means TLS from the first byte instead')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Continue a partial file: the local one (get) or the remote one (put)')
            [CompletionResult]::new('--continue', '--continue', [CompletionResultType]::ParameterName, 'Continue a partial file: the local one (get) or the remote one (put)')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Transfer folders and everything in them')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Transfer folders and everything in them')
            [CompletionResult]::new('--newer', '--newer', [CompletionResultType]::ParameterName, 'Skip files whose copy already has the same size and is not older (as lftp mirror --only-newer), so that a second run of a mirror transfers nothing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'minftp;ls' {
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name (default: from the URL, else ~/.netrc, else anonymous)')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password (default: from the URL, else ~/.netrc, else asked for on a terminal)')
            [CompletionResult]::new('--netrc-file', '--netrc-file', [CompletionResultType]::ParameterName, 'Read logins from FILE instead of ~/.netrc (the format curl, wget, lftp and ftp read)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait to connect, for a reply, or for data')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'Trust the CA certificates in FILE (PEM) as well as the system''s')
            [CompletionResult]::new('--pin-sha256', '--pin-sha256', [CompletionResultType]::ParameterName, 'Trust exactly the certificate with this SHA-256 fingerprint, as `minftp serve --tls` prints it (colons optional): for self-signed servers')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Long form: type, size, modification time (UTC), name')
            [CompletionResult]::new('--long', '--long', [CompletionResultType]::ParameterName, 'Long form: type, size, modification time (UTC), name')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON object per entry (name, type, size, modified, target)')
            [CompletionResult]::new('--bytes', '--bytes', [CompletionResultType]::ParameterName, 'Sizes in bytes, not human units, in the long form')
            [CompletionResult]::new('--active', '--active', [CompletionResultType]::ParameterName, 'Use an active data connection (PORT/EPRT)')
            [CompletionResult]::new('--passive', '--passive', [CompletionResultType]::ParameterName, 'Use a passive data connection only (EPSV/PASV)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing but errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show the FTP dialogue on standard error, as curl -v: commands sent (a password as ****), replies, connections and TLS handshakes; no progress bar')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show the FTP dialogue on standard error, as curl -v: commands sent (a password as ****), replies, connections and TLS handshakes; no progress bar')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Require TLS (AUTH TLS, PBSZ 0, PROT P); a server that refuses it is left before the login is sent. An ftpes:// URL means the same; an ftps:// URL means TLS from the first byte instead')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'minftp;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
