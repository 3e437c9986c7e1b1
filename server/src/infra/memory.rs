//! glibc's allocator, told to give memory back to the system (figures in the README's
//! performance section). Elsewhere (musl, other systems) the allocator's own habits stay.

/// glibc's malloc keeps whatever a burst once needed (a sign-in's 19 MiB of argon2, a
/// 100,000-row import, a rush of submissions) in as many arenas as threads touched it, and
/// raises its threshold for giving large blocks back each time one is freed: the gateway sat at
/// 76 MB idle and 82 MB under load with its defaults, 37 and 40 MB with two arenas and large
/// blocks (256 KiB and up) always mapped on their own and unmapped when freed.
/// Call it first: arenas that threads made before it stay.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn return_large_blocks() {
    // SAFETY: mallopt only sets allocator parameters, under glibc's own lock; a refused
    // setting (return value 0) leaves glibc's default, which still works.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Hands the free pages inside the allocator's heaps back to the system. By itself glibc
/// returns only a heap's free top, so what start-up (migrations, the API document) or a burst
/// freed beneath blocks still in use stayed resident: 4 MB of the idle gateway's 10 MB heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() {
    // SAFETY: malloc_trim only releases pages of free chunks; it takes each arena's lock.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_large_blocks() {}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}
