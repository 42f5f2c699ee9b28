//! [`LayerCompression`]: how a layer blob is compressed, told from its media
//! type or its first bytes, and the matching decoder. Pulls, archive
//! imports and the store's own tar streams all decode through it.

use std::io::{self, BufRead, BufReader, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    Gzip,
    Zstd,
    Plain,
}

impl LayerCompression {
    /// From an OCI or Docker layer media type; `None` when unsupported.
    pub fn of_media_type(mt: &str) -> Option<Self> {
        if mt.ends_with("tar+gzip") || mt.ends_with(".tar.gzip") {
            Some(LayerCompression::Gzip)
        } else if mt.ends_with("tar+zstd") {
            Some(LayerCompression::Zstd)
        } else if mt.ends_with(".tar") {
            Some(LayerCompression::Plain)
        } else {
            None
        }
    }

    /// From a blob's first (up to four) bytes.
    pub fn sniff(magic: &[u8]) -> Self {
        match magic {
            [0x1f, 0x8b, ..] => LayerCompression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => LayerCompression::Zstd,
            _ => LayerCompression::Plain,
        }
    }

    /// The uncompressed stream of `r`. gzip may hold several members.
    pub fn decoder<'a>(self, r: impl Read + Send + 'a) -> io::Result<Box<dyn Read + Send + 'a>> {
        Ok(match self {
            LayerCompression::Gzip => {
                Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(r)))
            }
            LayerCompression::Zstd => Box::new(zstd::Decoder::new(r)?),
            LayerCompression::Plain => Box::new(r),
        })
    }

    /// [`LayerCompression::decoder`] for a reader that is already buffered.
    pub fn decoder_buffered<'a>(
        self,
        r: impl BufRead + Send + 'a,
    ) -> io::Result<Box<dyn Read + Send + 'a>> {
        Ok(match self {
            LayerCompression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            LayerCompression::Zstd => Box::new(zstd::Decoder::with_buffer(r)?),
            LayerCompression::Plain => Box::new(r),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn told_from_media_type_and_magic() {
        use LayerCompression::*;
        let of = LayerCompression::of_media_type;
        assert_eq!(
            of("application/vnd.oci.image.layer.v1.tar+gzip"),
            Some(Gzip)
        );
        assert_eq!(
            of("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Gzip)
        );
        assert_eq!(
            of("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(Zstd)
        );
        assert_eq!(of("application/vnd.oci.image.layer.v1.tar"), Some(Plain));
        assert_eq!(of("application/json"), None);
        assert_eq!(LayerCompression::sniff(&[0x1f, 0x8b, 8, 0]), Gzip);
        assert_eq!(LayerCompression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Zstd);
        assert_eq!(LayerCompression::sniff(b"ustar"), Plain);
    }
}
