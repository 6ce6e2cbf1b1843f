# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_minftp_global_optspecs
    string join \n h/help V/version
end

function __fish_minftp_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_minftp_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_minftp_using_subcommand
    set -l cmd (__fish_minftp_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c minftp -n "__fish_minftp_needs_command" -s h -l help -d 'Print help'
complete -c minftp -n "__fish_minftp_needs_command" -s V -l version -d 'Print version'
complete -c minftp -n "__fish_minftp_needs_command" -f -a "serve" -d 'Serve files over FTP. The default dialect is the COMP 431 course\'s (eight commands, its exact transcript on standard output); --extended serves real FTP clients'
complete -c minftp -n "__fish_minftp_needs_command" -f -a "client" -d 'Run the COMP 431 client session read from standard input, or with --lab the COSC 328 session (OPEN, GET, PUT, CLOSE, QUIT, HELP) typed by a person'
complete -c minftp -n "__fish_minftp_needs_command" -f -a "get" -d 'Download files, globs or trees, with resume, retries, parallel connections and progress'
complete -c minftp -n "__fish_minftp_needs_command" -f -a "put" -d 'Upload files or trees, with resume, retries, parallel connections and progress'
complete -c minftp -n "__fish_minftp_needs_command" -f -a "ls" -d 'List a remote folder: names, a long form, or JSON, the same whatever the server'
complete -c minftp -n "__fish_minftp_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l root -d 'Folder to serve [default: ., or server with --lab]' -r -f -a "(__fish_complete_directories)"
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l bind -d 'Address to listen on, IPv4 or IPv6 [default: 0.0.0.0; 127.0.0.1 with --lab]' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l user -d 'Require this user name (extended dialect only; default: anonymous, any password)' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l password -d 'Require this password with --user (or set MINFTP_PASSWORD, which keeps it out of `ps`)' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l banner -d 'The greeting\'s text (extended dialect) [default: minftp FTP server ready.]' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l public-address -d 'Address announced in PASV replies behind NAT or in a container: an IP, or a name resolved at each PASV (EPSV needs none)' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l log -d 'Append an access log to FILE: a line per session start and end, transfer, change, login' -r -F
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l max-per-ip -d 'Most sessions one client address may hold at once; more get 421' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l max-rate -d 'Most bytes per second one session may move on its data connections' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l passive-ports -d 'Ports for passive data connections, as FIRST-LAST [default: any free port]' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l max-clients -d 'Most sessions served at once; more get 421' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l idle-timeout -d 'Seconds a control connection may stay silent (at most a day)' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l data-timeout -d 'Seconds to connect or accept, and to wait on each read or write, on a data connection (at most a day)' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l max-line -d 'Longest command line in bytes, line ending included (16 to 16 MiB)' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l tls-implicit-port -d 'With --tls: also listen on PORT for implicit TLS (ftps://, usually 990), beside the explicit port (0: a free port, shown at start)' -r
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l cert -d 'Certificate chain for TLS, PEM (the server\'s certificate first); it and --key are read again for new connections when they change, so a renewal needs no restart' -r -F
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l key -d 'Private key of --cert, PEM' -r -F
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l stdin -d 'COMP 431 Homework 1 mode: read commands from standard input, no sockets'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l extended -d 'Answer the command set real FTP clients need (curl, wget, lftp, FileZilla, ftplib)'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l writable -d 'Allow uploads and changes (implies --extended)'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l lab -d 'COSC 328 preset: --root server --writable (creates server/ if missing)'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -s v -l verbose -d 'Write the access log to standard error too'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l transcript-sessions -d 'Prefix each transcript line with its session\'s number (extended dialect)'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l tls -d 'FTP over TLS (extended dialect): AUTH TLS required before login, PROT P for data. Without --cert, a self-signed certificate is made once and kept; its fingerprint is printed at start'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l tls-optional -d 'With --tls: let clear-text clients in too'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l tls-implicit -d 'TLS from the first byte (ftps://, usually port 990) instead of AUTH TLS; implies --tls'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -l tls-no-reuse-check -d 'Accept PROT P data connections that resume no TLS session of the same client (for clients that cannot, such as Python\'s ftplib by default)'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -s h -l help -d 'Print help'
complete -c minftp -n "__fish_minftp_using_subcommand serve" -s V -l version -d 'Print version'
complete -c minftp -n "__fish_minftp_using_subcommand client" -l data-ip -d 'IPv4 address to advertise in PORT (default: this host\'s name, resolved)' -r
complete -c minftp -n "__fish_minftp_using_subcommand client" -l timeout -d 'Seconds to wait to connect, for a reply, or for the data connection (at most a day)' -r
complete -c minftp -n "__fish_minftp_using_subcommand client" -l dir -d 'Local folder of the lab session' -r -f -a "(__fish_complete_directories)"
complete -c minftp -n "__fish_minftp_using_subcommand client" -l lab -d 'COSC 328 session: OPEN/GET/PUT/CLOSE/QUIT between client/ and server/'
complete -c minftp -n "__fish_minftp_using_subcommand client" -s h -l help -d 'Print help'
complete -c minftp -n "__fish_minftp_using_subcommand client" -s V -l version -d 'Print version'
complete -c minftp -n "__fish_minftp_using_subcommand get" -s o -l output -d 'Local file, or - for standard output; the folder for several files or a tree' -r -F
complete -c minftp -n "__fish_minftp_using_subcommand get" -l max-filesize -d 'Abort a download larger than this many bytes (one file; nothing is kept)' -r
complete -c minftp -n "__fish_minftp_using_subcommand get" -l user -d 'User name (default: from the URL, else ~/.netrc, else anonymous)' -r
complete -c minftp -n "__fish_minftp_using_subcommand get" -l password -d 'Password (default: from the URL, else ~/.netrc, else asked for on a terminal)' -r
complete -c minftp -n "__fish_minftp_using_subcommand get" -l netrc-file -d 'Read logins from FILE instead of ~/.netrc (the format curl, wget, lftp and ftp read)' -r -F
complete -c minftp -n "__fish_minftp_using_subcommand get" -l timeout -d 'Seconds to wait to connect, for a reply, or for data' -r
complete -c minftp -n "__fish_minftp_using_subcommand get" -l cacert -d 'Trust the CA certificates in FILE (PEM) as well as the system\'s' -r -F
complete -c minftp -n "__fish_minftp_using_subcommand get" -l pin-sha256 -d 'Trust exactly the certificate with this SHA-256 fingerprint, as `minftp serve --tls` prints it (colons optional): for self-signed servers' -r
complete -c minftp -n "__fish_minftp_using_subcommand get" -l retry -d 'Attempts after the first when the connection breaks, times out or gets a 4xx (0: none)' -r
complete -c minftp -n "__fish_minftp_using_subcommand get" -l retry-delay -d 'Seconds before the first retry; each further one waits twice as long (at most 60)' -r
complete -c minftp -n "__fish_minftp_using_subcommand get" -s j -l parallel -d 'Control connections at once for several files or a tree' -r
complete -c minftp -n "__fish_minftp_using_subcommand get" -s n -l no-clobber -d 'Do not overwrite an existing local file (one file)'
complete -c minftp -n "__fish_minftp_using_subcommand get" -l active -d 'Use an active data connection (PORT/EPRT)'
complete -c minftp -n "__fish_minftp_using_subcommand get" -l passive -d 'Use a passive data connection only (EPSV/PASV)'
complete -c minftp -n "__fish_minftp_using_subcommand get" -s q -l quiet -d 'Print nothing but errors'
complete -c minftp -n "__fish_minftp_using_subcommand get" -s v -l verbose -d 'Show the FTP dialogue on standard error, as curl -v: commands sent (a password as ****), replies, connections and TLS handshakes; no progress bar'
complete -c minftp -n "__fish_minftp_using_subcommand get" -l tls -d 'Require TLS (AUTH TLS, PBSZ 0, PROT P); a server that refuses it is left before the login is sent. An ftpes:// URL means the same; an ftps:// URL means TLS from the first byte instead'
complete -c minftp -n "__fish_minftp_using_subcommand get" -s k -l insecure -d 'Do not check the server\'s certificate: still encrypted, but anyone in between can read and change everything'
complete -c minftp -n "__fish_minftp_using_subcommand get" -s c -l continue -d 'Continue a partial file: the local one (get) or the remote one (put)'
complete -c minftp -n "__fish_minftp_using_subcommand get" -s r -l recursive -d 'Transfer folders and everything in them'
complete -c minftp -n "__fish_minftp_using_subcommand get" -l newer -d 'Skip files whose copy already has the same size and is not older (as lftp mirror --only-newer), so that a second run of a mirror transfers nothing'
complete -c minftp -n "__fish_minftp_using_subcommand get" -s h -l help -d 'Print help'
complete -c minftp -n "__fish_minftp_using_subcommand get" -s V -l version -d 'Print version'
complete -c minftp -n "__fish_minftp_using_subcommand put" -l user -d 'User name (default: from the URL, else ~/.netrc, else anonymous)' -r
complete -c minftp -n "__fish_minftp_using_subcommand put" -l password -d 'Password (default: from the URL, else ~/.netrc, else asked for on a terminal)' -r
complete -c minftp -n "__fish_minftp_using_subcommand put" -l netrc-file -d 'Read logins from FILE instead of ~/.netrc (the format curl, wget, lftp and ftp read)' -r -F
complete -c minftp -n "__fish_minftp_using_subcommand put" -l timeout -d 'Seconds to wait to connect, for a reply, or for data' -r
complete -c minftp -n "__fish_minftp_using_subcommand put" -l cacert -d 'Trust the CA certificates in FILE (PEM) as well as the system\'s' -r -F
complete -c minftp -n "__fish_minftp_using_subcommand put" -l pin-sha256 -d 'Trust exactly the certificate with this SHA-256 fingerprint, as `minftp serve --tls` prints it (colons optional): for self-signed servers' -r
complete -c minftp -n "__fish_minftp_using_subcommand put" -l retry -d 'Attempts after the first when the connection breaks, times out or gets a 4xx (0: none)' -r
complete -c minftp -n "__fish_minftp_using_subcommand put" -l retry-delay -d 'Seconds before the first retry; each further one waits twice as long (at most 60)' -r
complete -c minftp -n "__fish_minftp_using_subcommand put" -s j -l parallel -d 'Control connections at once for several files or a tree' -r
complete -c minftp -n "__fish_minftp_using_subcommand put" -l create-dirs -d 'Create the remote folders the upload goes into when they are missing'
complete -c minftp -n "__fish_minftp_using_subcommand put" -l active -d 'Use an active data connection (PORT/EPRT)'
complete -c minftp -n "__fish_minftp_using_subcommand put" -l passive -d 'Use a passive data connection only (EPSV/PASV)'
complete -c minftp -n "__fish_minftp_using_subcommand put" -s q -l quiet -d 'Print nothing but errors'
complete -c minftp -n "__fish_minftp_using_subcommand put" -s v -l verbose -d 'Show the FTP dialogue on standard error, as curl -v: commands sent (a password as ****), replies, connections and TLS handshakes; no progress bar'
complete -c minftp -n "__fish_minftp_using_subcommand put" -l tls -d 'Require TLS (AUTH TLS, PBSZ 0, PROT P); a server that refuses it is left before the login is sent. An ftpes:// URL means the same; an ftps:// URL means TLS from the first byte instead'
complete -c minftp -n "__fish_minftp_using_subcommand put" -s k -l insecure -d 'Do not check the server\'s certificate: still encrypted, but anyone in between can read and change everything'
complete -c minftp -n "__fish_minftp_using_subcommand put" -s c -l continue -d 'Continue a partial file: the local one (get) or the remote one (put)'
complete -c minftp -n "__fish_minftp_using_subcommand put" -s r -l recursive -d 'Transfer folders and everything in them'
complete -c minftp -n "__fish_minftp_using_subcommand put" -l newer -d 'Skip files whose copy already has the same size and is not older (as lftp mirror --only-newer), so that a second run of a mirror transfers nothing'
complete -c minftp -n "__fish_minftp_using_subcommand put" -s h -l help -d 'Print help'
complete -c minftp -n "__fish_minftp_using_subcommand put" -s V -l version -d 'Print version'
complete -c minftp -n "__fish_minftp_using_subcommand ls" -l user -d 'User name (default: from the URL, else ~/.netrc, else anonymous)' -r
complete -c minftp -n "__fish_minftp_using_subcommand ls" -l password -d 'Password (default: from the URL, else ~/.netrc, else asked for on a terminal)' -r
complete -c minftp -n "__fish_minftp_using_subcommand ls" -l netrc-file -d 'Read logins from FILE instead of ~/.netrc (the format curl, wget, lftp and ftp read)' -r -F
complete -c minftp -n "__fish_minftp_using_subcommand ls" -l timeout -d 'Seconds to wait to connect, for a reply, or for data' -r
complete -c minftp -n "__fish_minftp_using_subcommand ls" -l cacert -d 'Trust the CA certificates in FILE (PEM) as well as the system\'s' -r -F
complete -c minftp -n "__fish_minftp_using_subcommand ls" -l pin-sha256 -d 'Trust exactly the certificate with this SHA-256 fingerprint, as `minftp serve --tls` prints it (colons optional): for self-signed servers' -r
complete -c minftp -n "__fish_minftp_using_subcommand ls" -s l -l long -d 'Long form: type, size, modification time (UTC), name'
complete -c minftp -n "__fish_minftp_using_subcommand ls" -l json -d 'One JSON object per entry (name, type, size, modified, target)'
complete -c minftp -n "__fish_minftp_using_subcommand ls" -l bytes -d 'Sizes in bytes, not human units, in the long form'
complete -c minftp -n "__fish_minftp_using_subcommand ls" -l active -d 'Use an active data connection (PORT/EPRT)'
complete -c minftp -n "__fish_minftp_using_subcommand ls" -l passive -d 'Use a passive data connection only (EPSV/PASV)'
complete -c minftp -n "__fish_minftp_using_subcommand ls" -s q -l quiet -d 'Print nothing but errors'
complete -c minftp -n "__fish_minftp_using_subcommand ls" -s v -l verbose -d 'Show the FTP dialogue on standard error, as curl -v: commands sent (a password as ****), replies, connections and TLS handshakes; no progress bar'
complete -c minftp -n "__fish_minftp_using_subcommand ls" -l tls -d 'Require TLS (AUTH TLS, PBSZ 0, PROT P); a server that refuses it is left before the login is sent. An ftpes:// URL means the same; an ftps:// URL means TLS from the first byte instead'
complete -c minftp -n "__fish_minftp_using_subcommand ls" -s k -l insecure -d 'Do not check the server\'s certificate: still encrypted, but anyone in between can read and change everything'
complete -c minftp -n "__fish_minftp_using_subcommand ls" -s h -l help -d 'Print help'
complete -c minftp -n "__fish_minftp_using_subcommand ls" -s V -l version -d 'Print version'
complete -c minftp -n "__fish_minftp_using_subcommand completions" -s h -l help -d 'Print help'
complete -c minftp -n "__fish_minftp_using_subcommand completions" -s V -l version -d 'Print version'
