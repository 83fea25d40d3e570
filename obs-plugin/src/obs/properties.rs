//! Settings, defaults and the properties dialog in safe Rust. Labels are locale ids
//! (`data/locale/en-US.ini`), looked up when the dialog is built; setting keys are the keys OBS
//! saves in scene collections.
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;

use deckcast_obs_sys as sys;

use super::capture;
use super::locale::text_c;

/// A source's settings, borrowed for one callback.
#[derive(Debug)]
pub struct Settings<'a> {
    data: NonNull<sys::obs_data_t>,
    _call: PhantomData<&'a ()>,
}

impl Settings<'_> {
    /// # Safety
    /// `data` must be a live, non-null `obs_data_t` that stays valid (and is not written by
    /// another thread) for the lifetime of the result.
    pub(super) unsafe fn borrow(data: *mut sys::obs_data_t) -> Self {
        Settings {
            // SAFETY: the trampolines null-check before borrowing.
            data: unsafe { NonNull::new_unchecked(data) },
            _call: PhantomData,
        }
    }

    /// A string setting (empty when unset).
    pub fn string(&self, key: &CStr) -> String {
        // SAFETY: live data; the string is owned by the data and copied right away.
        let p = unsafe { sys::obs_data_get_string(self.data.as_ptr(), key.as_ptr()) };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: non-null, NUL-terminated.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// An integer setting (0 when unset).
    pub fn int(&self, key: &CStr) -> i64 {
        // SAFETY: live data.
        unsafe { sys::obs_data_get_int(self.data.as_ptr(), key.as_ptr()) }
    }

    /// A boolean setting.
    pub fn bool(&self, key: &CStr) -> bool {
        // SAFETY: live data.
        unsafe { sys::obs_data_get_bool(self.data.as_ptr(), key.as_ptr()) }
    }

    /// An object setting (a font, say) as JSON; `Null` when unset.
    pub fn object(&self, key: &CStr) -> serde_json::Value {
        // SAFETY: live data; the object reference is released after copying it out as JSON.
        unsafe {
            let obj = sys::obs_data_get_obj(self.data.as_ptr(), key.as_ptr());
            if obj.is_null() {
                return serde_json::Value::Null;
            }
            let json = super::data::json_of(obj);
            sys::obs_data_release(obj);
            serde_json::from_str(&json).unwrap_or_default()
        }
    }
}

/// A source's default settings, written in `get_defaults`.
#[derive(Debug)]
pub struct Defaults<'a>(Settings<'a>);

impl Defaults<'_> {
    /// # Safety
    /// As [`Settings::borrow`], and no other thread reads it during the call.
    pub(super) unsafe fn borrow(data: *mut sys::obs_data_t) -> Self {
        // SAFETY: caller contract.
        Defaults(unsafe { Settings::borrow(data) })
    }

    /// Default of a string setting.
    pub fn string(&mut self, key: &CStr, value: &str) {
        let v = CString::new(value.replace('\0', "")).unwrap_or_default();
        // SAFETY: live data; libobs copies the strings.
        unsafe { sys::obs_data_set_default_string(self.0.data.as_ptr(), key.as_ptr(), v.as_ptr()) }
    }

    /// Default of an integer setting.
    pub fn int(&mut self, key: &CStr, value: i64) {
        // SAFETY: live data.
        unsafe { sys::obs_data_set_default_int(self.0.data.as_ptr(), key.as_ptr(), value) }
    }

    /// Default of a boolean setting.
    pub fn bool(&mut self, key: &CStr, value: bool) {
        // SAFETY: live data.
        unsafe { sys::obs_data_set_default_bool(self.0.data.as_ptr(), key.as_ptr(), value) }
    }
}

/// How a text property is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Several lines.
    Multiline,
    /// Read-only help text.
    Info,
}

/// The values a list property offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Strings.
    Strings,
    /// Integers.
    Ints,
}

/// A properties dialog under construction (UI thread). libobs copies every string.
#[derive(Debug)]
pub struct Properties(*mut sys::obs_properties_t);

impl Properties {
    pub(super) fn new() -> Self {
        // SAFETY: creates a new, empty properties object that we own until `into_raw`.
        Properties(unsafe { sys::obs_properties_create() })
    }

    pub(super) fn into_raw(self) -> *mut sys::obs_properties_t {
        let p = self.0;
        std::mem::forget(self);
        p
    }

    /// A text field (or help text).
    pub fn text(&mut self, key: &CStr, label: &str, kind: TextKind) {
        let kind = match kind {
            TextKind::Multiline => sys::obs_text_type_OBS_TEXT_MULTILINE,
            TextKind::Info => sys::obs_text_type_OBS_TEXT_INFO,
        };
        let l = text_c(label);
        // SAFETY: our properties object; valid strings.
        unsafe { sys::obs_properties_add_text(self.0, key.as_ptr(), l.as_ptr(), kind) };
    }

    /// An integer slider/spin box from `min` to `max`.
    pub fn int(&mut self, key: &CStr, label: &str, min: i64, max: i64, step: i64) {
        let l = text_c(label);
        let clamp = |v: i64| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        // SAFETY: our properties object; valid strings.
        unsafe {
            sys::obs_properties_add_int(
                self.0,
                key.as_ptr(),
                l.as_ptr(),
                clamp(min),
                clamp(max),
                clamp(step),
            )
        };
    }

    /// A checkbox.
    pub fn bool(&mut self, key: &CStr, label: &str) {
        let l = text_c(label);
        // SAFETY: our properties object; valid strings.
        unsafe { sys::obs_properties_add_bool(self.0, key.as_ptr(), l.as_ptr()) };
    }

    /// A colour picker.
    pub fn color(&mut self, key: &CStr, label: &str) {
        let l = text_c(label);
        // SAFETY: our properties object; valid strings.
        unsafe { sys::obs_properties_add_color(self.0, key.as_ptr(), l.as_ptr()) };
    }

    /// OBS's font dialog.
    pub fn font(&mut self, key: &CStr, label: &str) {
        let l = text_c(label);
        // SAFETY: our properties object; valid strings.
        unsafe { sys::obs_properties_add_font(self.0, key.as_ptr(), l.as_ptr()) };
    }

    /// A drop-down list; add its entries on the returned [`List`].
    pub fn list(&mut self, key: &CStr, label: &str, kind: ListKind) -> List<'_> {
        let l = text_c(label);
        let format = match kind {
            ListKind::Strings => sys::obs_combo_format_OBS_COMBO_FORMAT_STRING,
            ListKind::Ints => sys::obs_combo_format_OBS_COMBO_FORMAT_INT,
        };
        // SAFETY: our properties object; valid strings; the property lives as long as it does.
        let p = unsafe {
            sys::obs_properties_add_list(
                self.0,
                key.as_ptr(),
                l.as_ptr(),
                sys::obs_combo_type_OBS_COMBO_TYPE_LIST,
                format,
            )
        };
        List {
            p,
            _props: PhantomData,
        }
    }

    /// A list of OBS's audio sources: "none" (`""`), OBS's output mix ([`capture::OUTPUT_MIX`]),
    /// then every source that produces audio, by name.
    pub fn audio_sources(&mut self, key: &CStr, label: &str, none: &str) {
        let mut list = self.list(key, label, ListKind::Strings);
        list.item(none, "");
        list.item("Deckcast.OutputMix", capture::OUTPUT_MIX);
        for name in capture::audio_source_names() {
            list.raw_item(&name.to_string_lossy(), &name.to_string_lossy());
        }
    }
}

impl Drop for Properties {
    fn drop(&mut self) {
        // Only reached if building failed before `into_raw` (a panic): free what we made.
        // SAFETY: we still own the object.
        unsafe { sys::obs_properties_destroy(self.0) }
    }
}

/// Entries of a list property.
#[derive(Debug)]
pub struct List<'a> {
    p: *mut sys::obs_property_t,
    _props: PhantomData<&'a mut Properties>,
}

impl List<'_> {
    /// An entry labelled by locale id `label` with string value `value`.
    pub fn item(&mut self, label: &str, value: &str) {
        self.raw_item(&super::locale::text(label), value);
    }

    /// An entry shown as `text` as it is (a source name, say).
    pub fn raw_item(&mut self, text: &str, value: &str) {
        let (t, v) = (
            CString::new(text.replace('\0', "")).unwrap_or_default(),
            CString::new(value.replace('\0', "")).unwrap_or_default(),
        );
        // SAFETY: a live list property of our properties object; libobs copies the strings.
        unsafe { sys::obs_property_list_add_string(self.p, t.as_ptr(), v.as_ptr()) };
    }

    /// An entry shown as `text` with integer value `value`.
    pub fn int_item(&mut self, text: &str, value: i64) {
        let t = CString::new(text.replace('\0', "")).unwrap_or_default();
        // SAFETY: as above.
        unsafe { sys::obs_property_list_add_int(self.p, t.as_ptr(), value) };
    }
}
