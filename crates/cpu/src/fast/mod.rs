//! The fast kernels of the backend: the same ops as `kernels/` (the references they are tested
//! against), parallel on the backend's [`Pool`](crate::pool::Pool) and vectorised.

pub mod activations;
pub mod amx_matmul;
pub mod matmul;
pub mod small_ops;
pub mod sparse_matvec;
pub mod wkv7;
#[cfg(target_arch = "x86_64")]
pub mod wkv7_avx512;

/// A mutable slice shared by pool tasks that each write a disjoint part of it.
#[derive(Clone, Copy)]
pub(crate) struct Disjoint<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: tasks only touch disjoint ranges (each caller documents why), so sharing the pointer is
// as safe as splitting the slice.
unsafe impl<T: Send> Send for Disjoint<T> {}
unsafe impl<T: Send> Sync for Disjoint<T> {}

impl<T> Disjoint<T> {
    pub fn new(s: &mut [T]) -> Self {
        Disjoint { ptr: s.as_mut_ptr(), len: s.len() }
    }

    /// `start .. start + len` of the slice.
    ///
    /// # Safety
    /// No other task may access this range while the returned slice lives.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, start: usize, len: usize) -> &mut [T] {
        assert!(start + len <= self.len, "range {start}+{len} outside {}", self.len);
        std::slice::from_raw_parts_mut(self.ptr.add(start), len)
    }

    /// The first element, for kernels that write a strided part of the slice themselves.
    ///
    /// # Safety
    /// As [`Disjoint::range`], for every element the kernel writes (all below `len`).
    pub unsafe fn as_mut_ptr(&self) -> (*mut T, usize) {
        (self.ptr, self.len)
    }

    /// One element.
    ///
    /// # Safety
    /// As [`Disjoint::range`].
    pub unsafe fn write(&self, i: usize, v: T) {
        assert!(i < self.len, "index {i} outside {}", self.len);
        self.ptr.add(i).write(v)
    }
}
