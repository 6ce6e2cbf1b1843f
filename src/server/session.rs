//! The server's session state machine (SPEC §3.2-3.3): a command line in, a reply or an action out; no I/O.

use std::net::SocketAddrV4;

use crate::protocol::command::{Command, CommandError, parse_command};
use crate::protocol::reply::Reply;

/// Where the commands come from; it decides only what a valid QUIT is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `serve --stdin` (Homework 1): QUIT gets `200 Command OK.`.
    Stdin,
    /// A control connection: QUIT gets `221 Goodbye.`.
    Socket,
}

/// Login progress (SPEC §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    LoggedOut,
    UserGiven,
    LoggedIn,
}

/// What the driver must do with one command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this reply; the session goes on.
    Reply(Reply),
    /// Send this reply, then end the session.
    Quit(Reply),
    /// A RETR that passed every check the machine can make. The driver checks the file:
    /// when it cannot be sent it answers 550 (the PORT stays pending); when it can, it
    /// calls [`Session::start_transfer`] and answers 150.
    Retrieve { path: Vec<u8>, data_address: SocketAddrV4 },
}

/// One client's session state.
#[derive(Debug, Clone)]
pub struct Session {
    channel: Channel,
    login: Login,
    pending_port: Option<SocketAddrV4>,
}

impl Session {
    pub fn new(channel: Channel) -> Self {
        Session { channel, login: Login::LoggedOut, pending_port: None }
    }

    pub fn login(&self) -> Login {
        self.login
    }

    pub fn pending_port(&self) -> Option<SocketAddrV4> {
        self.pending_port
    }

    /// Handles one complete command line (its line ending included).
    pub fn handle(&mut self, line: &[u8]) -> Step {
        let step = match parse_command(line) {
            // An unknown verb changes no state at all.
            Err(CommandError::UnknownVerb) => return Step::Reply(Reply::UnknownCommand),
            Err(CommandError::BadSyntax) => Step::Reply(Reply::BadParameter),
            Ok(command) => self.apply(command),
        };
        if let Step::Reply(reply) = &step {
            self.cancel_pending_user_unless_kept_by(reply);
        }
        step
    }

    /// A line over the length limit: answered like an unknown verb, and like it changes nothing.
    pub fn handle_over_long_line(&mut self) -> Reply {
        Reply::UnknownCommand
    }

    /// The RETR announced by [`Step::Retrieve`] got its 150: the pending PORT is used up.
    pub fn start_transfer(&mut self) {
        self.pending_port = None;
    }

    /// (decided) A pending USER survives only a 331, a 230 or a 500; any other reply
    /// (501, 530) sends the session back to logged-out, so the next PASS gets 530.
    fn cancel_pending_user_unless_kept_by(&mut self, reply: &Reply) {
        if self.login == Login::UserGiven && !matches!(reply.code(), 331 | 230 | 500) {
            self.login = Login::LoggedOut;
        }
    }

    /// A syntactically valid command: sequence rules (530 before 503) and state changes.
    fn apply(&mut self, command: Command) -> Step {
        let reply = match command {
            Command::Quit => {
                *self = Session::new(self.channel);
                return Step::Quit(match self.channel {
                    Channel::Stdin => Reply::CommandOk,
                    Channel::Socket => Reply::Goodbye,
                });
            }
            Command::User(_) => {
                if self.login == Login::LoggedIn {
                    self.pending_port = None;
                }
                self.login = Login::UserGiven;
                Reply::UserOk
            }
            Command::Pass(_) => match self.login {
                Login::LoggedOut => Reply::NotLoggedIn,
                Login::UserGiven => {
                    self.login = Login::LoggedIn;
                    Reply::LoggedIn
                }
                Login::LoggedIn => Reply::BadSequence,
            },
            _ if self.login != Login::LoggedIn => Reply::NotLoggedIn,
            Command::Type(kind) => Reply::TypeSet(kind),
            Command::Syst => Reply::SystemType,
            Command::Noop => Reply::CommandOk,
            Command::Port(address) => {
                self.pending_port = Some(address);
                Reply::PortOk(address)
            }
            Command::Retr(path) => match self.pending_port {
                None => Reply::BadSequence,
                Some(data_address) => return Step::Retrieve { path, data_address },
            },
        };
        Step::Reply(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn codes(session: &mut Session, lines: &[&str]) -> Vec<u16> {
        lines
            .iter()
            .map(|line| match session.handle(line.as_bytes()) {
                Step::Reply(r) | Step::Quit(r) => r.code(),
                Step::Retrieve { .. } => 150,
            })
            .collect()
    }

    fn logged_in() -> Session {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USER a\r\n", "PASS b\r\n"]), [331, 230]);
        s
    }

    fn with_port() -> Session {
        let mut s = logged_in();
        assert_eq!(codes(&mut s, &["PORT 127,0,0,1,4,0\r\n"]), [200]);
        s
    }

    #[test]
    fn user_then_pass_logs_in() {
        let s = logged_in();
        assert_eq!(s.login(), Login::LoggedIn);
    }

    #[test]
    fn pass_without_user_is_530() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["PASS x\r\n"]), [530]);
    }

    #[test]
    fn pass_when_logged_in_is_503() {
        let mut s = logged_in();
        assert_eq!(codes(&mut s, &["PASS x\r\n"]), [503]);
    }

    #[test]
    fn user_twice_stays_user_given() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USER a\r\n", "user b\r\n", "PASS c\r\n"]), [331, 331, 230]);
    }

    #[test]
    fn user_when_logged_in_starts_a_new_login_and_clears_port() {
        let mut s = with_port();
        assert_eq!(codes(&mut s, &["USER c\r\n"]), [331]);
        assert_eq!(s.login(), Login::UserGiven);
        assert_eq!(s.pending_port(), None);
        assert_eq!(codes(&mut s, &["PASS d\r\n", "RETR f\r\n"]), [230, 503]);
    }

    #[test]
    fn commands_before_login_are_530() {
        let mut s = Session::new(Channel::Socket);
        let lines = ["TYPE I\r\n", "SYST\r\n", "NOOP\r\n", "PORT 1,2,3,4,5,6\r\n", "RETR f\r\n"];
        assert_eq!(codes(&mut s, &lines), [530; 5]);
    }

    #[test]
    fn syntax_is_checked_before_login() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["TYPE X\r\n", "NOOP jasleen\r\n", "USER\r\n"]), [501, 501, 501]);
    }

    #[test]
    fn a_501_cancels_a_pending_user() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USER a\r\n", "PASS \r\n", "PASS b\r\n"]), [331, 501, 530]);
    }

    #[test]
    fn a_530_cancels_a_pending_user() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USEr a b\r\n", "SYST\r\n", "PASS foobar\r\n"]), [331, 530, 530]);
    }

    #[test]
    fn a_500_keeps_a_pending_user() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USER a\r\n", "XYZZY\r\n", "PASS b\r\n"]), [331, 500, 230]);
    }

    #[test]
    fn an_over_long_line_keeps_a_pending_user() {
        let mut s = Session::new(Channel::Socket);
        codes(&mut s, &["USER a\r\n"]);
        assert_eq!(s.handle_over_long_line().code(), 500);
        assert_eq!(codes(&mut s, &["PASS b\r\n"]), [230]);
    }

    #[test]
    fn course_input1_login_sequence() {
        let mut s = Session::new(Channel::Stdin);
        let lines = [
            "user anonymous\r\n",
            "PASS word\n",
            "USER anonymous\r\n",
            "PASS \r\n",
            "UsEr anonymous\n",
            "USERCS anonymous\r\n",
            "PASS password\r\n",
            "USER anonymous\r\n",
            "PASS password\r\n",
        ];
        assert_eq!(codes(&mut s, &lines), [331, 501, 331, 501, 501, 500, 530, 331, 230]);
    }

    #[test]
    fn retr_without_port_is_503() {
        let mut s = logged_in();
        assert_eq!(codes(&mut s, &["RETR f\r\n"]), [503]);
    }

    #[test]
    fn retr_with_port_asks_the_driver_to_retrieve() {
        let mut s = with_port();
        let step = s.handle(b"RETR dir/f x\r\n");
        let want = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1024);
        assert_eq!(step, Step::Retrieve { path: b"dir/f x".to_vec(), data_address: want });
    }

    #[test]
    fn a_refused_retr_keeps_the_port_pending() {
        // The driver answers 550 and does not call start_transfer.
        let mut s = with_port();
        assert!(matches!(s.handle(b"RETR missing\r\n"), Step::Retrieve { .. }));
        assert!(s.pending_port().is_some());
        assert!(matches!(s.handle(b"RETR other\r\n"), Step::Retrieve { .. }));
    }

    #[test]
    fn a_501_retr_keeps_the_port_pending() {
        let mut s = with_port();
        assert_eq!(codes(&mut s, &["RETR \r\n"]), [501]);
        assert!(s.pending_port().is_some());
    }

    #[test]
    fn a_started_transfer_uses_up_the_port() {
        let mut s = with_port();
        assert!(matches!(s.handle(b"RETR f\r\n"), Step::Retrieve { .. }));
        s.start_transfer();
        assert_eq!(codes(&mut s, &["RETR f\r\n"]), [503]);
    }

    #[test]
    fn a_new_port_replaces_the_pending_one() {
        let mut s = with_port();
        codes(&mut s, &["PORT 127,0,0,1,8,0\r\n"]);
        assert_eq!(s.pending_port(), Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2048)));
    }

    #[test]
    fn quit_over_a_socket_is_221_and_forgets_the_login() {
        let mut s = with_port();
        assert_eq!(s.handle(b"QUIT\r\n"), Step::Quit(Reply::Goodbye));
        assert_eq!((s.login(), s.pending_port()), (Login::LoggedOut, None));
    }

    #[test]
    fn quit_over_stdin_is_200() {
        let mut s = Session::new(Channel::Stdin);
        assert_eq!(s.handle(b"QUIT\r\n"), Step::Quit(Reply::CommandOk));
    }

    #[test]
    fn quit_is_allowed_before_login() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(s.handle(b"quit\r\n"), Step::Quit(Reply::Goodbye));
    }

    #[test]
    fn an_invalid_quit_keeps_the_session() {
        let mut s = logged_in();
        assert_eq!(codes(&mut s, &["QUIT x\r\n", "quit\n", "NOOP\r\n"]), [501, 501, 200]);
        assert_eq!(s.login(), Login::LoggedIn);
    }
}
