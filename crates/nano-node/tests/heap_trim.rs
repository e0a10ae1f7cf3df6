//! `heap_trim` gives freed heap memory back to the system (its own process, so no
//! other test's allocations move the figures).

/// Resident anonymous memory now (`RssAnon` of `/proc/self/status`), in bytes.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn rss_anon() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// With the threshold fixed, 1 MiB blocks freed after a 16 MiB one (which would have
/// raised glibc's own threshold above them) leave the RSS at once, no trim needed:
/// each had its own mapping, not a place between small live blocks in an arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn large_blocks_freed_leave_at_once() {
    use nano_node::heap_trim::fix_mmap_threshold;
    assert!(fix_mmap_threshold());
    let big = vec![3u8; 16 << 20];
    assert_eq!(big[(16 << 20) - 1], 3);
    drop(big);
    let mut large = Vec::new();
    let mut small = Vec::new();
    for i in 0..32u8 {
        large.push(vec![i; 1 << 20]);
        small.push(Box::new([i; 64]));
    }
    let held = rss_anon();
    drop(large);
    let after = rss_anon();
    assert!(
        held - after >= 24 << 20,
        "RssAnon {held} -> {after}: under 24 MiB left with 32 MiB freed"
    );
    assert!(small.iter().enumerate().all(|(i, b)| b[63] == i as u8));
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn freed_pages_inside_the_heap_are_given_back() {
    use nano_node::heap_trim::{start_heap_trimmer, trim_heap};
    // First, while nothing else allocates in this process (one test here).
    large_blocks_freed_leave_at_once();
    // 64 MB in small blocks, written so they are resident; then every block but one
    // in 64 is freed. The survivors keep the freed runs inside the heap, where the
    // allocator keeps them (only its top is returned by a free).
    let mut blocks: Vec<Box<[u8; 512]>> = (0..131_072).map(|_| Box::new([1u8; 512])).collect();
    let kept: Vec<Box<[u8; 512]>> = blocks
        .iter_mut()
        .step_by(64)
        .map(|b| std::mem::replace(b, Box::new([2u8; 512])))
        .collect();
    drop(blocks);
    let before = rss_anon();
    assert!(trim_heap(), "nothing given back");
    let after = rss_anon();
    assert!(
        before - after >= 32 << 20,
        "RssAnon {before} -> {after}: under 32 MB given back"
    );
    assert!(kept.iter().all(|b| b[0] == 1 && b[511] == 1));
    // The process-wide thread starts once.
    assert!(start_heap_trimmer());
    assert!(start_heap_trimmer());
}
