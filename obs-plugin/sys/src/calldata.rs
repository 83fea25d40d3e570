//! Rust port of the `static inline` parts of libobs' `callback/calldata.h`.
//!
//! [`CallData`] owns a `calldata_t` and frees its stack on drop (what `calldata_free` does). Values
//! go in and out through the exported `calldata_set_data` / `calldata_get_data`, exactly as the C
//! inline helpers do: pointers, bools and integers are copied by value; strings are copied with their
//! terminating NUL.
use core::ffi::{CStr, c_char, c_void};
use core::mem::size_of;

use crate::{bfree, calldata_get_data, calldata_set_data, calldata_t};

/// An owned, initially empty `calldata_t` (the equivalent of `calldata_init` + `calldata_free`).
#[derive(Debug)]
pub struct CallData {
    raw: calldata_t,
}

impl Default for CallData {
    fn default() -> Self {
        Self::new()
    }
}

impl CallData {
    /// An empty calldata (all zero, as `calldata_init` leaves it).
    pub fn new() -> Self {
        Self {
            raw: calldata_t {
                stack: core::ptr::null_mut(),
                size: 0,
                capacity: 0,
                fixed: false,
            },
        }
    }

    /// The raw pointer to hand to `proc_handler_call` / `signal_handler_signal`.
    pub fn as_mut_ptr(&mut self) -> *mut calldata_t {
        &mut self.raw
    }

    fn set_raw(&mut self, name: &CStr, data: *const c_void, size: usize) {
        // SAFETY: `self.raw` is a valid calldata owned by us; libobs copies `size` bytes from `data`
        // (which the callers point at a live value of that size) into its own growable stack.
        unsafe { calldata_set_data(&mut self.raw, name.as_ptr(), data, size) }
    }

    fn get_raw<T: Copy>(&self, name: &CStr, mut out: T) -> Option<T> {
        // SAFETY: `self.raw` is valid; libobs copies at most `size_of::<T>()` bytes into `out`,
        // and only when the stored item has exactly that size.
        let found = unsafe {
            calldata_get_data(
                &self.raw,
                name.as_ptr(),
                (&mut out as *mut T).cast(),
                size_of::<T>(),
            )
        };
        found.then_some(out)
    }

    /// `calldata_set_ptr`.
    pub fn set_ptr(&mut self, name: &CStr, ptr: *mut c_void) {
        self.set_raw(
            name,
            (&ptr as *const *mut c_void).cast(),
            size_of::<*mut c_void>(),
        );
    }

    /// `calldata_set_string` (the string is copied, NUL included).
    pub fn set_string(&mut self, name: &CStr, value: &CStr) {
        let bytes = value.to_bytes_with_nul();
        self.set_raw(name, bytes.as_ptr().cast(), bytes.len());
    }

    /// `calldata_set_bool`.
    pub fn set_bool(&mut self, name: &CStr, value: bool) {
        self.set_raw(name, (&value as *const bool).cast(), size_of::<bool>());
    }

    /// `calldata_set_int` (`long long`).
    pub fn set_int(&mut self, name: &CStr, value: i64) {
        self.set_raw(name, (&value as *const i64).cast(), size_of::<i64>());
    }

    /// `calldata_get_ptr` (`calldata_ptr`): `None` when absent.
    pub fn ptr(&self, name: &CStr) -> Option<*mut c_void> {
        self.get_raw(name, core::ptr::null_mut::<c_void>())
    }

    /// `calldata_bool`: `None` when absent.
    pub fn bool(&self, name: &CStr) -> Option<bool> {
        self.get_raw(name, false)
    }

    /// `calldata_int`: `None` when absent.
    pub fn int(&self, name: &CStr) -> Option<i64> {
        self.get_raw(name, 0i64)
    }

    /// `calldata_string`: borrowed from the calldata; `None` when absent or NULL.
    pub fn string(&self, name: &CStr) -> Option<&CStr> {
        let mut out: *const c_char = core::ptr::null();
        // SAFETY: `self.raw` is valid; on success `out` points into our own stack, which lives as
        // long as `&self` and is only mutated through `&mut self`.
        let found = unsafe { crate::calldata_get_string(&self.raw, name.as_ptr(), &mut out) };
        // SAFETY: libobs stores strings NUL-terminated (see `set_string`).
        (found && !out.is_null()).then(|| unsafe { CStr::from_ptr(out) })
    }
}

impl Drop for CallData {
    fn drop(&mut self) {
        if !self.raw.fixed && !self.raw.stack.is_null() {
            // SAFETY: a non-fixed calldata's stack was allocated by libobs' bmalloc/brealloc.
            unsafe { bfree(self.raw.stack.cast()) }
        }
    }
}

/// `calldata_int` on a calldata libobs owns (e.g. inside a signal callback).
///
/// # Safety
/// `cd` must be a valid calldata for the duration of the call.
pub unsafe fn get_int_raw(cd: *const calldata_t, name: &CStr) -> Option<i64> {
    let mut out = 0i64;
    // SAFETY: caller contract; copies at most 8 bytes into `out`.
    let found = unsafe {
        calldata_get_data(
            cd,
            name.as_ptr(),
            (&mut out as *mut i64).cast(),
            size_of::<i64>(),
        )
    };
    found.then_some(out)
}

/// `calldata_ptr` on a calldata libobs owns.
///
/// # Safety
/// `cd` must be a valid calldata for the duration of the call.
pub unsafe fn get_ptr_raw(cd: *const calldata_t, name: &CStr) -> Option<*mut c_void> {
    let mut out: *mut c_void = core::ptr::null_mut();
    // SAFETY: caller contract; copies a pointer-sized value into `out`.
    let found = unsafe {
        calldata_get_data(
            cd,
            name.as_ptr(),
            (&mut out as *mut *mut c_void).cast(),
            size_of::<*mut c_void>(),
        )
    };
    found.then_some(out)
}
