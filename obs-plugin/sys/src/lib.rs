//! Raw bindings to libobs 30.2.3 and obs-frontend-api, plus Rust ports of the `static inline`
//! helpers bindgen cannot emit.
//!
//! - [`bindings.rs`](self) is bindgen output from Debian trixie's `libobs-dev` 30.2.3, committed so
//!   that building needs neither libclang nor OBS headers. `regen.sh` regenerates it and checks that
//!   the committed file is current (feature `regen-bindings`).
//! - [`calldata`] re-implements `callback/calldata.h`'s inline get/set helpers over the exported
//!   `calldata_get_data` / `calldata_set_data`.
//! - [`websocket`] re-implements `obs-websocket-api.h` (all `static inline`): the vendor API reached
//!   through `proc_handler_call`.
//!
//! Linking: nothing is linked here. OBS opens modules with `dlopen(RTLD_LAZY)` and has `libobs.so.0`
//! and `libobs-frontend-api.so.0` in its global scope, so the plugin leaves those symbols undefined.
//!
//! Threads: these are plain functions; each libobs function's own rules apply (see the plugin's
//! `obs` module, which is the only user and the only other place `unsafe` is allowed).
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    clippy::all,
    missing_debug_implementations,
    clippy::undocumented_unsafe_blocks
)]

#[rustfmt::skip]
mod bindings;
pub use bindings::*;

pub mod calldata;
pub mod websocket;

/// `LIBOBS_API_VER` of the headers the bindings come from: `MAKE_SEMANTIC_VERSION(major, minor, patch)`,
/// a function-like macro bindgen cannot emit. Returned by the plugin's `obs_module_ver`.
pub const LIBOBS_API_VER: u32 =
    (LIBOBS_API_MAJOR_VER << 24) | (LIBOBS_API_MINOR_VER << 16) | LIBOBS_API_PATCH_VER;
