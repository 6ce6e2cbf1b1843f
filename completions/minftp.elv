
use builtin;
use str;

set edit:completion:arg-completer[minftp] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'minftp'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'minftp'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Serve files over FTP. The default dialect is the COMP 431 course''s (eight commands, its exact transcript on standard output); --extended serves real FTP clients'
            cand client 'Run the COMP 431 client session read from standard input, or with --lab the COSC 328 session (OPEN, GET, PUT, CLOSE, QUIT, HELP) typed by a person'
            cand get 'Download files, globs or trees, with resume, retries, parallel connections and progress'
            cand put 'Upload files or trees, with resume, retries, parallel connections and progress'
            cand ls 'List a remote folder: names, a long form, or JSON, the same whatever the server'
            cand completions 'Print a shell completion script'
        }
        &'minftp;serve'= {
            cand --root 'Folder to serve [default: ., or server with --lab]'
            cand --bind 'Address to listen on, IPv4 or IPv6 [default: 0.0.0.0; 127.0.0.1 with --lab]'
            cand --user 'Require this user name (extended dialect only; default: anonymous, any password)'
            cand --password 'Require this password with --user (or set MINFTP_PASSWORD, which keeps it out of `ps`)'
            cand --banner 'The greeting''s text (extended dialect) [default: minftp FTP server ready.]'
            cand --public-address 'Address announced in PASV replies behind NAT or in a container: an IP, or a name resolved at each PASV (EPSV needs none)'
            cand --log 'Append an access log to FILE: a line per session start and end, transfer, change, login'
            cand --max-per-ip 'Most sessions one client address may hold at once; more get 421'
            cand --max-rate 'Most bytes per second one session may move on its data connections'
            cand --passive-ports 'Ports for passive data connections, as FIRST-LAST [default: any free port]'
            cand --max-clients 'Most sessions served at once; more get 421'
            cand --idle-timeout 'Seconds a control connection may stay silent (at most a day)'
            cand --data-timeout 'Seconds to connect or accept, and to wait on each read or write, on a data connection (at most a day)'
            cand --max-line 'Longest command line in bytes, line ending included (16 to 16 MiB)'
            cand --tls-implicit-port 'With --tls: also listen on PORT for implicit TLS (ftps://, usually 990), beside the explicit port (0: a free port, shown at start)'
            cand --cert 'Certificate chain for TLS, PEM (the server''s certificate first); it and --key are read again for new connections when they change, so a renewal needs no restart'
            cand --key 'Private key of --cert, PEM'
            cand --stdin 'COMP 431 Homework 1 mode: read commands from standard input, no sockets'
            cand --extended 'Answer the command set real FTP clients need (curl, wget, lftp, FileZilla, ftplib)'
            cand --writable 'Allow uploads and changes (implies --extended)'
            cand --lab 'COSC 328 preset: --root server --writable (creates server/ if missing)'
            cand -v 'Write the access log to standard error too'
            cand --verbose 'Write the access log to standard error too'
            cand --transcript-sessions 'Prefix each transcript line with its session''s number (extended dialect)'
            cand --tls 'FTP over TLS (extended dialect): AUTH TLS required before login, PROT P for data. Without --cert, a self-signed certificate is made once and kept; its fingerprint is printed at start'
            cand --tls-optional 'With --tls: let clear-text clients in too'
            cand --tls-implicit 'TLS from the first byte (ftps://, usually port 990) instead of AUTH TLS; implies --tls'
            cand --tls-no-reuse-check 'Accept PROT P data connections that resume no TLS session of the same client (for clients that cannot, such as Python''s ftplib by default)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'minftp;client'= {
            cand --data-ip 'IPv4 address to advertise in PORT (default: this host''s name, resolved)'
            cand --timeout 'Seconds to wait to connect, for a reply, or for the data connection (at most a day)'
            cand --dir 'Local folder of the lab session'
            cand --lab 'COSC 328 session: OPEN/GET/PUT/CLOSE/QUIT between client/ and server/'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'minftp;get'= {
            cand -o 'Local file, or - for standard output; the folder for several files or a tree'
            cand --output 'Local file, or - for standard output; the folder for several files or a tree'
            cand --max-filesize 'Abort a download larger than this many bytes (one file; nothing is kept)'
            cand --user 'User name (default: from the URL, else ~/.netrc, else anonymous)'
            cand --password 'Password (default: from the URL, else ~/.netrc, else asked for on a terminal)'
            cand --netrc-file 'Read logins from FILE instead of ~/.netrc (the format curl, wget, lftp and ftp read)'
            cand --timeout 'Seconds to wait to connect, for a reply, or for data'
            cand --cacert 'Trust the CA certificates in FILE (PEM) as well as the system''s'
            cand --pin-sha256 'Trust exactly the certificate with this SHA-256 fingerprint, as `minftp serve --tls` prints it (colons optional): for self-signed servers'
            cand --retry 'Attempts after the first when the connection breaks, times out or gets a 4xx (0: none)'
            cand --retry-delay 'Seconds before the first retry; each further one waits twice as long (at most 60)'
            cand -j 'Control connections at once for several files or a tree'
            cand --parallel 'Control connections at once for several files or a tree'
            cand -n 'Do not overwrite an existing local file (one file)'
            cand --no-clobber 'Do not overwrite an existing local file (one file)'
            cand --active 'Use an active data connection (PORT/EPRT)'
            cand --passive 'Use a passive data connection only (EPSV/PASV)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand --tls 'Require TLS (AUTH TLS, PBSZ 0, PROT P); a server that refuses it is left before the login is sent. An ftpes:// URL means the same; an ftps:// URL means TLS from the first byte instead'
            cand -k 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything'
            cand --insecure 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything'
            cand -c 'Continue a partial file: the local one (get) or the remote one (put)'
            cand --continue 'Continue a partial file: the local one (get) or the remote one (put)'
            cand -r 'Transfer folders and everything in them'
            cand --recursive 'Transfer folders and everything in them'
            cand --newer 'Skip files whose copy already has the same size and is not older (as lftp mirror --only-newer), so that a second run of a mirror transfers nothing'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'minftp;put'= {
            cand --user 'User name (default: from the URL, else ~/.netrc, else anonymous)'
            cand --password 'Password (default: from the URL, else ~/.netrc, else asked for on a terminal)'
            cand --netrc-file 'Read logins from FILE instead of ~/.netrc (the format curl, wget, lftp and ftp read)'
            cand --timeout 'Seconds to wait to connect, for a reply, or for data'
            cand --cacert 'Trust the CA certificates in FILE (PEM) as well as the system''s'
            cand --pin-sha256 'Trust exactly the certificate with this SHA-256 fingerprint, as `minftp serve --tls` prints it (colons optional): for self-signed servers'
            cand --retry 'Attempts after the first when the connection breaks, times out or gets a 4xx (0: none)'
            cand --retry-delay 'Seconds before the first retry; each further one waits twice as long (at most 60)'
            cand -j 'Control connections at once for several files or a tree'
            cand --parallel 'Control connections at once for several files or a tree'
            cand --create-dirs 'Create the remote folders the upload goes into when they are missing'
            cand --active 'Use an active data connection (PORT/EPRT)'
            cand --passive 'Use a passive data connection only (EPSV/PASV)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand --tls 'Require TLS (AUTH TLS, PBSZ 0, PROT P); a server that refuses it is left before the login is sent. An ftpes:// URL means the same; an ftps:// URL means TLS from the first byte instead'
            cand -k 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything'
            cand --insecure 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything'
            cand -c 'Continue a partial file: the local one (get) or the remote one (put)'
            cand --continue 'Continue a partial file: the local one (get) or the remote one (put)'
            cand -r 'Transfer folders and everything in them'
            cand --recursive 'Transfer folders and everything in them'
            cand --newer 'Skip files whose copy already has the same size and is not older (as lftp mirror --only-newer), so that a second run of a mirror transfers nothing'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'minftp;ls'= {
            cand --user 'User name (default: from the URL, else ~/.netrc, else anonymous)'
            cand --password 'Password (default: from the URL, else ~/.netrc, else asked for on a terminal)'
            cand --netrc-file 'Read logins from FILE instead of ~/.netrc (the format curl, wget, lftp and ftp read)'
            cand --timeout 'Seconds to wait to connect, for a reply, or for data'
            cand --cacert 'Trust the CA certificates in FILE (PEM) as well as the system''s'
            cand --pin-sha256 'Trust exactly the certificate with this SHA-256 fingerprint, as `minftp serve --tls` prints it (colons optional): for self-signed servers'
            cand -l 'Long form: type, size, modification time (UTC), name'
            cand --long 'Long form: type, size, modification time (UTC), name'
            cand --json 'One JSON object per entry (name, type, size, modified, target)'
            cand --bytes 'Sizes in bytes, not human units, in the long form'
            cand --active 'Use an active data connection (PORT/EPRT)'
            cand --passive 'Use a passive data connection only (EPSV/PASV)'
            cand -q 'Print nothing but errors'
            cand --quiet 'Print nothing but errors'
            cand --tls 'Require TLS (AUTH TLS, PBSZ 0, PROT P); a server that refuses it is left before the login is sent. An ftpes:// URL means the same; an ftps:// URL means TLS from the first byte instead'
            cand -k 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything'
            cand --insecure 'Do not check the server''s certificate: still encrypted, but anyone in between can read and change everything'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'minftp;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
    ]
    $completions[$command]
}
