//! GNU sparse files recorded in PAX extended headers (formats 0.0, 0.1 and
//! 1.0, what `tar --sparse --format=pax` writes). The tar reader knows only
//! the old GNU `S` entries; these look like regular files named
//! `GNUSparseFile.N/name` whose data is the concatenated non-hole fragments.
//! Docker's untar (Go's archive/tar) expands them to the real name and size,
//! holes as zeros, and so does ADD here.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// A 1.0 map longer than this is refused, as Go refuses special headers
/// over 1 MiB: the map is read into memory.
const MAX_MAP_BYTES: u64 = 1 << 20;

/// What the PAX records say about a sparse entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PaxSparse {
    /// The real name (`GNU.sparse.name`), when recorded.
    pub name: Option<Vec<u8>>,
    /// The expanded size of the file.
    pub size: u64,
    /// `(offset, length)` of each data fragment; `None` for format 1.0,
    /// whose map is at the start of the entry's data.
    map: Option<Vec<(u64, u64)>>,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad GNU sparse header: {}", what.into()),
    )
}

fn number(text: &[u8], what: &str) -> io::Result<u64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or_else(|| bad(format!("{what} {:?}", String::from_utf8_lossy(text))))
}

/// Reads the PAX records of an entry; `None` when it is not a PAX sparse
/// file (including unknown versions, which Go also leaves as they are).
pub(crate) fn from_pax<'a>(
    records: impl Iterator<Item = io::Result<(&'a [u8], &'a [u8])>>,
) -> io::Result<Option<PaxSparse>> {
    let (mut major, mut minor, mut name, mut size, mut realsize) = (None, None, None, None, None);
    let (mut map, mut numblocks) = (None::<Vec<u8>>, None);
    // Format 0.0 repeats offset/numbytes records instead of one map.
    let mut pairs: Vec<u8> = Vec::new();
    for rec in records {
        let (key, value) = rec?;
        match key {
            b"GNU.sparse.major" => major = Some(value),
            b"GNU.sparse.minor" => minor = Some(value),
            b"GNU.sparse.name" => name = Some(value.to_vec()),
            b"GNU.sparse.size" => size = Some(value),
            b"GNU.sparse.realsize" => realsize = Some(value),
            b"GNU.sparse.map" => map = Some(value.to_vec()),
            b"GNU.sparse.numblocks" => numblocks = Some(value),
            b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
                if !pairs.is_empty() {
                    pairs.push(b',');
                }
                pairs.extend_from_slice(value);
            }
            _ => {}
        }
    }
    if !pairs.is_empty() {
        map = Some(pairs);
    }
    let v1 = match (major, minor) {
        (Some(b"1"), Some(b"0")) => true,
        (Some(b"0"), Some(b"0" | b"1")) => false,
        (Some(_), _) | (_, Some(_)) => return Ok(None),
        (None, None) if map.as_deref().is_some_and(|m| !m.is_empty()) => false,
        (None, None) => return Ok(None),
    };
    let size = match size.or(realsize) {
        Some(s) => number(s, "size")?,
        None => return Err(bad("no size record")),
    };
    let map = if v1 {
        None
    } else {
        let text = map.unwrap_or_default();
        let count = numblocks.map(|n| number(n, "numblocks")).transpose()?;
        Some(parse_pairs(&text, count)?)
    };
    Ok(Some(PaxSparse { name, size, map }))
}

/// `off,len,off,len,...` with, when given, exactly `count` pairs.
fn parse_pairs(text: &[u8], count: Option<u64>) -> io::Result<Vec<(u64, u64)>> {
    let nums: Vec<u64> = if text.is_empty() {
        Vec::new()
    } else {
        text.split(|b| *b == b',')
            .map(|n| number(n, "map value"))
            .collect::<io::Result<_>>()?
    };
    if !nums.len().is_multiple_of(2) || count.is_some_and(|c| c != nums.len() as u64 / 2) {
        return Err(bad("map and numblocks disagree"));
    }
    Ok(nums.chunks(2).map(|p| (p[0], p[1])).collect())
}

/// Reads a 1.0 map from the start of the data: decimal lines (the count,
/// then offset and length of each fragment), padded to a 512-byte block.
fn read_v1_map(data: &mut impl Read) -> io::Result<Vec<(u64, u64)>> {
    let mut consumed = 0u64;
    let mut line = Vec::new();
    let mut next = |data: &mut dyn Read| -> io::Result<u64> {
        line.clear();
        let mut byte = [0u8];
        loop {
            data.read_exact(&mut byte)
                .map_err(|_| bad("map cut short"))?;
            consumed += 1;
            if consumed > MAX_MAP_BYTES {
                return Err(bad("map over 1 MiB"));
            }
            if byte[0] == b'\n' {
                return number(&line, "map line");
            }
            line.push(byte[0]);
        }
    };
    let count = next(data)?;
    let mut map = Vec::new();
    for _ in 0..count {
        let off = next(data)?;
        let len = next(data)?;
        map.push((off, len));
    }
    let pad = (512 - consumed % 512) % 512;
    io::copy(&mut data.take(pad), &mut io::sink())?;
    Ok(map)
}

/// Fragments must be in order, must not overlap and must end within the
/// file, as Go's reader checks.
fn validate(map: &[(u64, u64)], size: u64) -> io::Result<()> {
    let mut end_before = 0u64;
    for &(off, len) in map {
        let end = off
            .checked_add(len)
            .ok_or_else(|| bad("fragment overflows"))?;
        if off < end_before || end > size {
            return Err(bad(format!(
                "fragment {off}+{len} out of order or past {size}"
            )));
        }
        end_before = end;
    }
    Ok(())
}

impl PaxSparse {
    /// Writes the expanded file: each fragment at its offset, the rest holes.
    pub(crate) fn write(self, data: &mut impl Read, out: &mut File) -> io::Result<()> {
        let map = match self.map {
            Some(m) => m,
            None => read_v1_map(data)?,
        };
        validate(&map, self.size)?;
        for (off, len) in map {
            out.seek(SeekFrom::Start(off))?;
            let copied = io::copy(&mut data.take(len), out)?;
            if copied != len {
                return Err(bad("data shorter than its map"));
            }
        }
        out.set_len(self.size)?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs<'a>(
        r: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = io::Result<(&'a [u8], &'a [u8])>> {
        r.iter().map(|(k, v)| Ok((k.as_bytes(), v.as_bytes())))
    }

    #[test]
    fn plain_pax_entries_are_not_sparse() {
        assert_eq!(from_pax(recs(&[("path", "a")])).unwrap(), None);
        let unknown = [("GNU.sparse.major", "2"), ("GNU.sparse.minor", "0")];
        assert_eq!(from_pax(recs(&unknown)).unwrap(), None);
    }

    #[test]
    fn formats_0_0_and_0_1_give_the_same_map() {
        let v00 = [
            ("GNU.sparse.size", "100"),
            ("GNU.sparse.numblocks", "2"),
            ("GNU.sparse.offset", "0"),
            ("GNU.sparse.numbytes", "4"),
            ("GNU.sparse.offset", "96"),
            ("GNU.sparse.numbytes", "4"),
            ("GNU.sparse.name", "holes"),
        ];
        let v01 = [
            ("GNU.sparse.major", "0"),
            ("GNU.sparse.minor", "1"),
            ("GNU.sparse.realsize", "100"),
            ("GNU.sparse.numblocks", "2"),
            ("GNU.sparse.map", "0,4,96,4"),
            ("GNU.sparse.name", "holes"),
        ];
        let a = from_pax(recs(&v00)).unwrap().unwrap();
        assert_eq!(a, from_pax(recs(&v01)).unwrap().unwrap());
        assert_eq!(a.map, Some(vec![(0, 4), (96, 4)]));
        assert_eq!(a.name.as_deref(), Some(&b"holes"[..]));
    }

    #[test]
    fn bad_maps_are_refused() {
        let odd = [("GNU.sparse.realsize", "9"), ("GNU.sparse.map", "0,4,8")];
        assert!(from_pax(recs(&odd)).is_err());
        let count = [
            ("GNU.sparse.realsize", "9"),
            ("GNU.sparse.numblocks", "3"),
            ("GNU.sparse.map", "0,4"),
        ];
        assert!(from_pax(recs(&count)).is_err());
        assert!(validate(&[(0, 4), (2, 4)], 10).is_err(), "overlap");
        assert!(validate(&[(8, 4)], 10).is_err(), "past the end");
        assert!(validate(&[(u64::MAX, 4)], u64::MAX).is_err(), "overflow");
        assert!(validate(&[(0, 4), (6, 4)], 10).is_ok());
    }

    #[test]
    fn a_v1_map_is_read_and_its_padding_skipped() {
        let mut data = b"2\n0\n4\n96\n4\n".to_vec();
        data.resize(512, 0);
        data.extend_from_slice(b"headtail");
        let mut r = io::Cursor::new(data);
        assert_eq!(read_v1_map(&mut r).unwrap(), vec![(0, 4), (96, 4)]);
        assert_eq!(r.position(), 512);
    }

    #[test]
    fn an_endless_v1_map_stops_at_its_cap() {
        let mut r = io::repeat(b'7');
        let err = read_v1_map(&mut r).unwrap_err();
        assert!(err.to_string().contains("1 MiB"), "{err}");
        let mut huge = io::Cursor::new(b"99999999999\n".to_vec());
        assert!(read_v1_map(&mut huge).is_err(), "count beyond the data");
    }
}
