//! Base64 as Docker's `auths.*.auth` field and `Authorization: Basic`
//! headers use it: the standard alphabet, written padded, read padded or
//! not (config files in the wild have both).

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(crate) fn encode(input: &[u8]) -> String {
    ENGINE.encode(input)
}

/// `None` on any invalid input.
pub(crate) fn decode(input: &str) -> Option<Vec<u8>> {
    ENGINE.decode(input).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_unpadded() {
        assert_eq!(encode(b"alice:s3cret"), "YWxpY2U6czNjcmV0");
        assert_eq!(encode(b"a:b"), "YTpi");
        assert_eq!(encode(b"ab"), "YWI=");
        assert_eq!(decode("YWI=").unwrap(), b"ab");
        assert_eq!(decode("YWI").unwrap(), b"ab");
        assert!(decode("Y!I=").is_none());
    }
}
