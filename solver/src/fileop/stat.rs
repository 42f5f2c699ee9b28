//! The parts of an `lstat` that copies and cache keys use, kept in 96
//! bytes instead of libc's 144: a walk holds one per entry of the context,
//! which for a big context is most of a build's memory (issue 15). The
//! field names are libc's, so code reads the same as with a `FileStat`.

use nix::sys::stat::FileStat;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_mode: u32,
    /// Saturated at `u32::MAX`; only "more than one" matters here.
    pub st_nlink: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
}

impl From<FileStat> for Stat {
    fn from(st: FileStat) -> Stat {
        Stat {
            st_dev: st.st_dev,
            st_ino: st.st_ino,
            st_rdev: st.st_rdev,
            st_size: st.st_size,
            st_mode: st.st_mode,
            st_nlink: u32::try_from(st.st_nlink).unwrap_or(u32::MAX),
            st_uid: st.st_uid,
            st_gid: st.st_gid,
            st_atime: st.st_atime,
            st_atime_nsec: st.st_atime_nsec,
            st_mtime: st.st_mtime,
            st_mtime_nsec: st.st_mtime_nsec,
            st_ctime: st.st_ctime,
            st_ctime_nsec: st.st_ctime_nsec,
        }
    }
}
