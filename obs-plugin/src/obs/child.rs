//! Private child sources (not listed, not saved) that one of our sources owns and draws, such as
//! the FreeType text sources the Now Playing source lays out.
use std::ffi::CStr;
use std::ptr::NonNull;

use deckcast_obs_sys as sys;

use super::data::Data;

/// An owned reference to a private source; released on drop.
#[derive(Debug)]
pub struct Child(NonNull<sys::obs_source_t>);

// SAFETY: libobs source references are atomically refcounted and the functions used here lock
// internally (or run on the graphics thread through `Gfx`).
unsafe impl Send for Child {}
// SAFETY: as above.
unsafe impl Sync for Child {}

impl Child {
    /// A private source of type `id` named `name` with `settings` (a JSON object). UI or graphics
    /// thread.
    pub fn private(id: &CStr, name: &CStr, settings: &serde_json::Value) -> Option<Child> {
        let data = Data::from_value(settings)?;
        // SAFETY: valid strings and settings; returns a new reference or null.
        NonNull::new(unsafe {
            sys::obs_source_create_private(id.as_ptr(), name.as_ptr(), data.as_ptr())
        })
        .map(Child)
    }

    /// Applies `settings` (only the keys given change). UI or graphics thread.
    pub fn update(&self, settings: &serde_json::Value) {
        if let Some(data) = Data::from_value(settings) {
            // SAFETY: our live source and a settings object we own.
            unsafe { sys::obs_source_update(self.0.as_ptr(), data.as_ptr()) }
        }
    }

    /// Its current size (width, height).
    pub fn size(&self) -> (u32, u32) {
        // SAFETY: our live source.
        unsafe {
            (
                sys::obs_source_get_width(self.0.as_ptr()),
                sys::obs_source_get_height(self.0.as_ptr()),
            )
        }
    }

    pub(super) fn as_ptr(&self) -> *mut sys::obs_source_t {
        self.0.as_ptr()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: we own exactly one reference.
        unsafe { sys::obs_source_release(self.0.as_ptr()) }
    }
}
