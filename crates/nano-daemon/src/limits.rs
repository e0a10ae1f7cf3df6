//! Raising the open-file limit at start-up: a node holds many peer sockets and LMDB
//! files, and the operator docs' known "Too many open files" failure comes from the
//! default soft limit of 1024.

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns (before, after).
pub fn raise_open_file_limit() -> std::io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok((before, lim.rlim_cur))
}

#[cfg(test)]
mod tests {
    #[test]
    fn limit_is_at_least_what_it_was() {
        let (before, after) = super::raise_open_file_limit().unwrap();
        assert!(after >= before);
    }
}
