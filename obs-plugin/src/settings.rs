//! Source settings declared once: key (as OBS saves it), locale label, default and accepted range,
//! so defaults, the properties dialog and reading a setting back can never disagree.
use std::ffi::CStr;

use crate::obs::properties::{Defaults, ListKind, Properties, Settings};

/// An integer setting, clamped to `min..=max` when read.
#[derive(Debug, Clone, Copy)]
pub struct Int {
    /// Settings key.
    pub key: &'static CStr,
    /// Locale id of the label.
    pub label: &'static str,
    /// Default value.
    pub default: i64,
    /// Smallest accepted value.
    pub min: i64,
    /// Largest accepted value.
    pub max: i64,
}

impl Int {
    /// The value, clamped into range.
    pub fn read(&self, s: &Settings<'_>) -> i64 {
        s.int(self.key).clamp(self.min, self.max)
    }

    /// Writes the default.
    pub fn default(&self, d: &mut Defaults<'_>) {
        d.int(self.key, self.default);
    }

    /// Adds a spin box over the accepted range.
    pub fn add(&self, p: &mut Properties) {
        p.int(self.key, self.label, self.min, self.max, 1);
    }
}

/// A string setting with a fixed set of values; anything else reads as the default.
#[derive(Debug, Clone, Copy)]
pub struct Choice {
    /// Settings key.
    pub key: &'static CStr,
    /// Locale id of the label.
    pub label: &'static str,
    /// Default value (one of `options`).
    pub default: &'static str,
    /// (locale id of the entry, value) in the order shown.
    pub options: &'static [(&'static str, &'static str)],
}

impl Choice {
    /// The value (one of the options).
    pub fn read(&self, s: &Settings<'_>) -> &'static str {
        let v = s.string(self.key);
        self.options
            .iter()
            .find(|(_, value)| *value == v)
            .map_or(self.default, |(_, value)| value)
    }

    /// Writes the default.
    pub fn default(&self, d: &mut Defaults<'_>) {
        d.string(self.key, self.default);
    }

    /// Adds a drop-down list of the options.
    pub fn add(&self, p: &mut Properties) {
        let mut list = p.list(self.key, self.label, ListKind::Strings);
        for (label, value) in self.options {
            list.item(label, value);
        }
    }
}

/// A checkbox.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// Settings key.
    pub key: &'static CStr,
    /// Locale id of the label.
    pub label: &'static str,
    /// Default value.
    pub default: bool,
}

impl Flag {
    /// The value.
    pub fn read(&self, s: &Settings<'_>) -> bool {
        s.bool(self.key)
    }

    /// Writes the default.
    pub fn default(&self, d: &mut Defaults<'_>) {
        d.bool(self.key, self.default);
    }

    /// Adds a checkbox.
    pub fn add(&self, p: &mut Properties) {
        p.bool(self.key, self.label);
    }
}

/// A colour (OBS's 0xAABBGGRR).
#[derive(Debug, Clone, Copy)]
pub struct Color {
    /// Settings key.
    pub key: &'static CStr,
    /// Locale id of the label.
    pub label: &'static str,
    /// Default value.
    pub default: u32,
}

impl Color {
    /// The value as OBS stores it (0xAABBGGRR).
    pub fn read(&self, s: &Settings<'_>) -> u32 {
        s.int(self.key) as u32
    }

    /// The value as RGBA floats (0–1).
    pub fn rgba(&self, s: &Settings<'_>) -> [f32; 4] {
        let c = self.read(s);
        [c, c >> 8, c >> 16, c >> 24].map(|v| (v & 0xFF) as f32 / 255.0)
    }

    /// Writes the default.
    pub fn default(&self, d: &mut Defaults<'_>) {
        d.int(self.key, i64::from(self.default));
    }

    /// Adds a colour picker.
    pub fn add(&self, p: &mut Properties) {
        p.color(self.key, self.label);
    }
}

/// Which audio a source listens to: `""` none, [`crate::obs::capture::OUTPUT_MIX`] OBS's output
/// mix, otherwise a source name.
#[derive(Debug, Clone, Copy)]
pub struct AudioSource {
    /// Settings key.
    pub key: &'static CStr,
    /// Locale id of the label.
    pub label: &'static str,
    /// Locale id of the "none" entry.
    pub none: &'static str,
}

impl AudioSource {
    /// The value.
    pub fn read(&self, s: &Settings<'_>) -> String {
        s.string(self.key)
    }

    /// Adds the list of OBS's audio sources.
    pub fn add(&self, p: &mut Properties) {
        p.audio_sources(self.key, self.label, self.none);
    }
}
