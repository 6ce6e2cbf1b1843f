//! Address encodings of the PORT command: `h1,h2,h3,h4,p1,p2` and the reply's `h1.h2.h3.h4,P`.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Parses the argument of PORT: six numbers of 1 to 3 decimal digits, each 0-255,
/// separated by single commas and nothing else (SPEC §3.1).
pub fn parse_port_argument(arg: &[u8]) -> Option<SocketAddrV4> {
    let mut numbers = [0u8; 6];
    let mut fields = arg.split(|&b| b == b',');
    for slot in &mut numbers {
        *slot = parse_byte_number(fields.next()?)?;
    }
    if fields.next().is_some() {
        return None;
    }
    let [h1, h2, h3, h4, p1, p2] = numbers;
    Some(SocketAddrV4::new(Ipv4Addr::new(h1, h2, h3, h4), u16::from_be_bytes([p1, p2])))
}

/// `<n>`: 1 to 3 decimal digits with a value of 0-255 (leading zeros allowed).
fn parse_byte_number(field: &[u8]) -> Option<u8> {
    if field.is_empty() || field.len() > 3 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = field.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    u8::try_from(value).ok()
}

/// The argument a client sends in PORT: `h1,h2,h3,h4,p1,p2`.
pub fn format_port_argument(addr: SocketAddrV4) -> String {
    let [h1, h2, h3, h4] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{h1},{h2},{h3},{h4},{p1},{p2}")
}

/// The address as the PORT reply prints it: `h1.h2.h3.h4,P` with P = p1*256+p2.
pub fn format_port_reply_address(addr: SocketAddrV4) -> String {
    format!("{},{}", addr.ip(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(arg: &str) -> Option<String> {
        parse_port_argument(arg.as_bytes()).map(format_port_reply_address)
    }

    #[test]
    fn port_argument_combines_the_last_two_numbers_into_the_port() {
        assert_eq!(parsed("1,2,3,4,5,6").as_deref(), Some("1.2.3.4,1286"));
        assert_eq!(parsed("152,2,131,205,31,144").as_deref(), Some("152.2.131.205,8080"));
    }

    #[test]
    fn port_argument_needs_exactly_six_numbers() {
        assert_eq!(parsed("1,2,3,4,5"), None);
        assert_eq!(parsed("1,2,3,4,5,6,7"), None);
    }

    #[test]
    fn port_numbers_above_255_are_refused() {
        assert_eq!(parsed("256,2,3,4,5,6"), None);
        assert_eq!(parsed("1,2,3,4,5,999"), None);
    }

    #[test]
    fn port_numbers_may_have_leading_zeros_up_to_three_digits() {
        assert_eq!(parsed("001,002,003,004,000,010").as_deref(), Some("1.2.3.4,10"));
        assert_eq!(parsed("0001,2,3,4,5,6"), None);
    }

    #[test]
    fn port_argument_allows_no_spaces_signs_or_empty_fields() {
        assert_eq!(parsed("1, 2,3,4,5,6"), None);
        assert_eq!(parsed("1,2,3,4,5,6 "), None);
        assert_eq!(parsed("1,,3,4,5,6"), None);
        assert_eq!(parsed("+1,2,3,4,5,6"), None);
        assert_eq!(parsed(""), None);
    }

    #[test]
    fn port_argument_round_trips() {
        let addr = SocketAddrV4::new(Ipv4Addr::new(152, 19, 160, 146), 10000);
        assert_eq!(format_port_argument(addr), "152,19,160,146,39,16");
        assert_eq!(parse_port_argument(format_port_argument(addr).as_bytes()), Some(addr));
    }
}
