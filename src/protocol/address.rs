//! Address encodings on the wire: PORT's `h1,h2,h3,h4,p1,p2`, the COMP 431 reply's
//! `h1.h2.h3.h4,P`, EPRT's `|af|addr|port|` and EPSV's `(|||port|)` (RFC 959, RFC 2428).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// Parses the argument of PORT: six numbers of decimal digits, each 0-255, separated by
/// single commas and nothing else (SPEC §3.1).
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

/// `<n>`: one or more decimal digits with a value of 0-255 (SPEC §3.1, revised: any number
/// of leading zeros, so `0001` is 1, as the course's servers accept it).
fn parse_byte_number(field: &[u8]) -> Option<u8> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let significant = &field[field.iter().take_while(|&&d| d == b'0').count()..];
    if significant.len() > 3 {
        return None;
    }
    let value = significant.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
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

/// Parses EPRT's argument `<d><af><d><addr><d><port><d>` (RFC 2428): the delimiter is the
/// first byte (any printable ASCII), af 1 is IPv4 and 2 is IPv6.
pub fn parse_eprt_argument(arg: &[u8]) -> Option<SocketAddr> {
    let (&delimiter, rest) = arg.split_first()?;
    if !(33..=126).contains(&delimiter) || arg.last() != Some(&delimiter) {
        return None;
    }
    let fields: Vec<&[u8]> = rest[..rest.len().checked_sub(1)?].split(|&b| b == delimiter).collect();
    let [family, address, port] = fields[..] else { return None };
    let address = std::str::from_utf8(address).ok()?;
    let ip: IpAddr = match family {
        b"1" => address.parse::<Ipv4Addr>().ok()?.into(),
        b"2" => address.parse::<Ipv6Addr>().ok()?.into(),
        _ => return None,
    };
    if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let port = std::str::from_utf8(port).ok()?.parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

/// The argument of a client's EPRT: `|1|a.b.c.d|port|` or `|2|v6|port|`.
pub fn format_eprt_argument(addr: SocketAddr) -> String {
    let family = if addr.is_ipv4() { 1 } else { 2 };
    format!("|{family}|{}|{}|", addr.ip(), addr.port())
}

/// The port in a 229 reply's text: `... (|||port|)`.
pub fn parse_epsv_reply(text: &str) -> Option<u16> {
    let (open, close) = (text.find('(')?, text.rfind(')')?);
    // A ")" before the "(" is no address (found by tests/properties.rs: it used to panic).
    let inside = text.get(open + 1..close)?;
    let delimiter = inside.chars().next()?;
    let fields: Vec<&str> = inside.split(delimiter).collect();
    match fields[..] {
        ["", "", "", port, ""] => port.parse().ok(),
        _ => None,
    }
}

/// The address in a 227 reply's text: the first run of six comma-separated numbers.
pub fn parse_pasv_reply(text: &str) -> Option<SocketAddrV4> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits = &text[start..];
    let end = digits.find(|c: char| !(c.is_ascii_digit() || c == ',')).unwrap_or(digits.len());
    parse_port_argument(&digits.as_bytes()[..end])
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
    fn port_numbers_may_have_any_number_of_leading_zeros() {
        // Changed with SPEC §3.1 (revised): `<n>` is any decimal representation of 0-255, and
        // the course's HW1 servers answer `PORT 1,2,3,4,0001,1` with 200; this used to be None.
        assert_eq!(parsed("001,002,003,004,000,010").as_deref(), Some("1.2.3.4,10"));
        assert_eq!(parsed("0001,2,3,4,0001,1").as_deref(), Some("1.2.3.4,257"));
        assert_eq!(parsed("00000000000000000000255,0,0,1,0,0000").as_deref(), Some("255.0.0.1,0"));
        assert_eq!(parsed("0256,2,3,4,5,6"), None);
        assert_eq!(parsed("00001000,2,3,4,5,6"), None);
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

    #[test]
    fn eprt_parses_ipv4_and_ipv6() {
        assert_eq!(parse_eprt_argument(b"|1|132.235.1.2|6275|"), Some("132.235.1.2:6275".parse().unwrap()));
        assert_eq!(parse_eprt_argument(b"|2|::1|5282|"), Some("[::1]:5282".parse().unwrap()));
        assert_eq!(parse_eprt_argument(b"!1!10.0.0.1!80!"), Some("10.0.0.1:80".parse().unwrap()));
    }

    #[test]
    fn eprt_refuses_bad_family_address_port_or_shape() {
        for bad in [
            &b"|3|1.2.3.4|80|"[..],
            b"|1|::1|80|",
            b"|2|1.2.3.4|80|",
            b"|1|1.2.3.4|65536|",
            b"|1|1.2.3.4||",
            b"|1|1.2.3.4|80",
            b"|1|1.2.3.4|80|x|",
            b"",
            b"|",
        ] {
            assert_eq!(parse_eprt_argument(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn eprt_round_trips() {
        for addr in ["127.0.0.1:2121", "[::1]:40000"] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(parse_eprt_argument(format_eprt_argument(addr).as_bytes()), Some(addr));
        }
    }

    #[test]
    fn epsv_reply_gives_its_port() {
        assert_eq!(parse_epsv_reply("Entering Extended Passive Mode (|||6446|)"), Some(6446));
        assert_eq!(parse_epsv_reply("Entering Extended Passive Mode (!!!6446!)"), Some(6446));
        assert_eq!(parse_epsv_reply("Entering Extended Passive Mode (|1|6446|)"), None);
        assert_eq!(parse_epsv_reply("no parentheses"), None);
        assert_eq!(parse_epsv_reply(")(|||1|"), None);
    }

    #[test]
    fn pasv_reply_gives_its_address_with_or_without_parentheses() {
        let want = Some(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 1286));
        assert_eq!(parse_pasv_reply("Entering Passive Mode (127,0,0,1,5,6)."), want);
        assert_eq!(parse_pasv_reply("Entering Passive Mode 127,0,0,1,5,6"), want);
        assert_eq!(parse_pasv_reply("Entering Passive Mode (127,0,0,1,5)"), None);
    }
}
