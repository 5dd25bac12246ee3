//! Base64 (RFC 4648, standard alphabet, padded): what the guest agent's JSON carries
//! (`input-data`, `out-data`) and what the simulated CA tools print.

const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `data`.
pub fn encode(data: &[u8]) -> String {
    let mut s = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Decodes `text` (whitespace ignored); `None` when it is not base64.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for ch in text.bytes().filter(|b| !b.is_ascii_whitespace()) {
        if ch == b'=' {
            break;
        }
        let v = T.iter().position(|&t| t == ch)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_padding() {
        assert_eq!(encode(b"pve"), "cHZl");
        assert_eq!(encode(b"pv"), "cHY=");
        assert_eq!(encode(b"p"), "cA==");
        for s in [&b""[..], b"p", b"pv", b"pve", b"pve-sim\n\x00\xff"] {
            assert_eq!(decode(&encode(s)).unwrap(), s);
        }
        assert_eq!(decode("cHZl\ncHY=").unwrap(), b"pvepv");
        assert!(decode("not*base64").is_none());
    }
}
