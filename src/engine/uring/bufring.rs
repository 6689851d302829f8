//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): receive buffers owned by the worker and
//! lent to the kernel, which picks one only when data arrives.
//!
//! This is what lets an idle keep-alive connection hold no receive buffer: its pending `recv`
//! names a buffer *group*, not a buffer. When the completion arrives the chosen buffer belongs to
//! userspace until [`BufRing::release`] hands it back.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

/// The buffer group id every worker uses (each worker has its own ring, so ids never clash).
pub(crate) const BUF_GROUP: u16 = 0;

/// The provided buffers of one ring.
pub(crate) struct BufRing {
    /// The shared ring of `io_uring_buf` entries (page-aligned, mmapped).
    entries: NonNull<BufRingEntry>,
    entries_len: usize,
    count: u16,
    /// Our copy of the tail; published to the kernel with a release store.
    tail: u16,
    /// `count * size` bytes; buffer `bid` is `[bid * size, (bid + 1) * size)`.
    memory: NonNull<u8>,
    memory_len: usize,
    size: usize,
    registered: bool,
}

impl BufRing {
    /// Allocates `count` buffers of `size` bytes and registers them with `ring`.
    ///
    /// `count` must be a power of two (a kernel requirement) no larger than 32768.
    pub(crate) fn new(ring: &IoUring, count: u16, size: usize) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 32768 || size == 0 || size > u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "receive buffer count must be a power of two up to 32768",
            ));
        }
        let entries_len = count as usize * std::mem::size_of::<BufRingEntry>();
        let memory_len = count as usize * size;
        let entries = mmap(entries_len)?.cast::<BufRingEntry>();
        let memory = match mmap(memory_len) {
            Ok(m) => m,
            Err(e) => {
                // SAFETY: `entries` was mapped just above with this length and is not shared yet.
                unsafe { libc::munmap(entries.as_ptr().cast(), entries_len) };
                return Err(e);
            }
        };
        let mut this = BufRing {
            entries,
            entries_len,
            count,
            tail: 0,
            memory,
            memory_len,
            size,
            registered: false,
        };
        // SAFETY: the entry ring is page-aligned (mmap), `count` entries long, and stays mapped
        // until `unregister` has run (Drop of `Driver` unregisters before this is dropped).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries.as_ptr() as u64,
                count,
                BUF_GROUP,
                0,
            )?;
        }
        this.registered = true;
        for bid in 0..count {
            this.push(bid);
        }
        this.publish();
        Ok(this)
    }

    /// The first `len` bytes of buffer `bid`, which a completion handed to userspace.
    pub(crate) fn get(&self, bid: u16, len: usize) -> &[u8] {
        assert!(
            bid < self.count && len <= self.size,
            "buffer id or length out of range"
        );
        // SAFETY: `bid` was returned by a completion and has not been released, so the kernel
        // does not write to it; the range lies inside `memory` (checked above), which lives as
        // long as `self`.
        unsafe {
            std::slice::from_raw_parts(self.memory.as_ptr().add(bid as usize * self.size), len)
        }
    }

    /// Gives buffer `bid` back to the kernel.
    pub(crate) fn release(&mut self, bid: u16) {
        self.push(bid);
        self.publish();
    }

    fn push(&mut self, bid: u16) {
        let mask = self.count - 1;
        let index = (self.tail & mask) as usize;
        // SAFETY: `index < count`, so the entry lies inside the mapped ring. The kernel only reads
        // entries between its head and our published tail, and this slot is beyond the tail.
        let entry = unsafe { &mut *self.entries.as_ptr().add(index) };
        // SAFETY: `bid < count`, so the address is inside `memory`.
        let addr = unsafe { self.memory.as_ptr().add(bid as usize * self.size) };
        entry.set_addr(addr as u64);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the mapped ring; the kernel reads it
        // with an acquire load, so a release store makes the entries written before it visible.
        unsafe {
            let tail = BufRingEntry::tail(self.entries.as_ptr()) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Unregisters the group; must run before the ring is destroyed or this is dropped.
    pub(crate) fn unregister(&mut self, ring: &IoUring) {
        if self.registered {
            let _ = ring.submitter().unregister_buf_ring(BUF_GROUP);
            self.registered = false;
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // If the group is still registered the kernel may still write into the buffers: leaking
        // them is the only safe choice (it cannot happen unless unregister failed).
        if self.registered {
            return;
        }
        // SAFETY: both regions were mapped in `new` with these lengths and the kernel no longer
        // references them (the group is unregistered).
        unsafe {
            libc::munmap(self.entries.as_ptr().cast(), self.entries_len);
            libc::munmap(self.memory.as_ptr().cast(), self.memory_len);
        }
    }
}

/// Maps `len` bytes of zeroed, page-aligned anonymous memory (untouched pages cost no RSS).
fn mmap(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: an anonymous private mapping with no address hint has no preconditions.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}
