//! Drawing from a source's `render` in safe Rust: a [`Gfx`] token that only exists inside OBS's
//! render pass (graphics thread), matrix translation, drawing a [`Child`](super::child::Child)
//! source, a dynamic [`VertexBuffer`] and [`Effect`]s.
//!
//! Graphics objects are destroyed inside the graphics context whatever thread drops them
//! (`obs_enter_graphics` nests on the graphics thread).
use std::ffi::{CStr, c_char};
use std::marker::PhantomData;

use deckcast_obs_sys as sys;

use super::child::Child;

/// Proof that the code runs on the graphics thread inside a source's render.
#[derive(Debug)]
pub struct Gfx<'a> {
    _render: PhantomData<&'a mut ()>,
}

impl Gfx<'_> {
    /// # Safety
    /// Only from a source's `video_render` callback (graphics thread, inside OBS's render).
    pub(super) unsafe fn in_render() -> Self {
        Gfx {
            _render: PhantomData,
        }
    }

    /// Runs `f` with the coordinate system moved by `(x, y)`.
    pub fn translated(&mut self, x: f32, y: f32, f: impl FnOnce(&mut Gfx<'_>)) {
        // SAFETY: graphics thread inside render (the token). The pop runs in `Pop`'s drop, so
        // push and pop stay balanced even when `f` unwinds.
        unsafe {
            sys::gs_matrix_push();
            sys::gs_matrix_translate3f(x, y, 0.0);
        }
        struct Pop;
        impl Drop for Pop {
            fn drop(&mut self) {
                // SAFETY: pairs the push above, on the same thread.
                unsafe { sys::gs_matrix_pop() }
            }
        }
        let _pop = Pop;
        f(self);
    }

    /// Draws a private child source at the current position.
    pub fn draw_child(&mut self, child: &Child) {
        // SAFETY: graphics thread inside render; the child is alive (we hold a reference).
        unsafe { sys::obs_source_video_render(child.as_ptr()) }
    }

    /// A dynamic vertex buffer of `count` points (all at the origin).
    pub fn vertex_buffer(&mut self, count: usize) -> Option<VertexBuffer> {
        if count == 0 {
            return None;
        }
        // SAFETY: graphics thread; libobs takes ownership of the bmalloc'd data (and frees it with
        // the buffer).
        let vb = unsafe {
            let data =
                sys::bmalloc(std::mem::size_of::<sys::gs_vb_data>()).cast::<sys::gs_vb_data>();
            data.write(sys::gs_vb_data::default());
            let points = sys::bmalloc(std::mem::size_of::<sys::vec3>() * count).cast::<sys::vec3>();
            std::ptr::write_bytes(points, 0, count);
            (*data).num = count;
            (*data).points = points;
            sys::gs_vertexbuffer_create(data, sys::GS_DYNAMIC)
        };
        (!vb.is_null()).then_some(VertexBuffer { vb, count })
    }

    /// Loads an effect file from the module's data folder (`effects/x.effect`).
    pub fn load_effect(&mut self, relative: &CStr) -> Result<Effect, String> {
        // SAFETY: our module pointer; libobs returns a bmalloc'd path or null, freed here.
        unsafe {
            let path = sys::obs_find_module_file(super::module::current(), relative.as_ptr());
            if path.is_null() {
                return Err(format!("{} not found", relative.to_string_lossy()));
            }
            let mut err: *mut c_char = std::ptr::null_mut();
            let effect = sys::gs_effect_create_from_file(path, &mut err);
            let why = if err.is_null() {
                String::new()
            } else {
                CStr::from_ptr(err).to_string_lossy().into_owned()
            };
            sys::bfree(err.cast());
            sys::bfree(path.cast());
            if effect.is_null() {
                Err(format!("it failed to compile: {why}"))
            } else {
                Ok(Effect(effect))
            }
        }
    }

    /// Draws the first `count` points of `vb` as triangles with `material`.
    pub fn draw_triangles(&mut self, vb: &VertexBuffer, material: Material<'_>) {
        let count = vb.count as u32;
        // SAFETY: graphics thread inside render; the buffer and effects are alive; parameter
        // lookups that fail return null, which libobs ignores.
        unsafe {
            let (effect, technique) = match material {
                Material::Solid(color) => {
                    let solid = sys::obs_get_base_effect(sys::obs_base_effect_OBS_EFFECT_SOLID);
                    set(solid, c"color", Param::Vec4(color));
                    (solid, c"Solid")
                }
                Material::Effect {
                    effect,
                    technique,
                    params,
                } => {
                    for (name, p) in params {
                        set(effect.0, name, *p);
                    }
                    (effect.0, technique)
                }
            };
            sys::gs_load_vertexbuffer(vb.vb);
            sys::gs_load_indexbuffer(std::ptr::null_mut());
            while sys::gs_effect_loop(effect, technique.as_ptr()) {
                sys::gs_draw(sys::gs_draw_mode_GS_TRIS, 0, count);
            }
            sys::gs_load_vertexbuffer(std::ptr::null_mut());
        }
    }
}

/// # Safety
/// Graphics thread; `effect` valid.
unsafe fn set(effect: *mut sys::gs_effect_t, name: &CStr, value: Param) {
    // SAFETY: caller contract; a missing parameter is null, which libobs ignores.
    unsafe {
        let p = sys::gs_effect_get_param_by_name(effect, name.as_ptr());
        match value {
            Param::Vec4(v) => {
                let mut val = sys::vec4::default();
                val.__bindgen_anon_1.ptr = v;
                sys::gs_effect_set_vec4(p, &val);
            }
            Param::Vec2(v) => {
                let mut val = sys::vec2::default();
                val.__bindgen_anon_1.ptr = v;
                sys::gs_effect_set_vec2(p, &val);
            }
            Param::Float(v) => sys::gs_effect_set_float(p, v),
        }
    }
}

/// An effect parameter value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param {
    /// `float4`.
    Vec4([f32; 4]),
    /// `float2`.
    Vec2([f32; 2]),
    /// `float`.
    Float(f32),
}

/// How triangles are coloured.
#[derive(Debug, Clone, Copy)]
pub enum Material<'a> {
    /// OBS's solid effect with this RGBA colour (0–1).
    Solid([f32; 4]),
    /// One of our effects, a technique of it and parameters to set first.
    Effect {
        /// The effect.
        effect: &'a Effect,
        /// The technique to draw with.
        technique: &'a CStr,
        /// Parameters by name.
        params: &'a [(&'a CStr, Param)],
    },
}

/// A dynamic vertex buffer (graphics objects: created and filled on the graphics thread).
#[derive(Debug)]
pub struct VertexBuffer {
    vb: *mut sys::gs_vertbuffer_t,
    count: usize,
}

// SAFETY: the buffer is only touched on the graphics thread (through a `Gfx`) or destroyed inside
// the graphics context.
unsafe impl Send for VertexBuffer {}
// SAFETY: as above; `&VertexBuffer` gives no access without a `Gfx`.
unsafe impl Sync for VertexBuffer {}

impl VertexBuffer {
    /// Points in the buffer.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if it holds no points (never: empty buffers are not created).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Writes `positions` (x, y; at most [`VertexBuffer::len`]) and uploads them.
    pub fn fill(&mut self, _gfx: &mut Gfx<'_>, positions: &[[f32; 2]]) {
        // SAFETY: graphics thread (the token); our buffer holds `count` points.
        unsafe {
            let data = sys::gs_vertexbuffer_get_data(self.vb);
            if data.is_null() || (*data).points.is_null() {
                return;
            }
            let points = std::slice::from_raw_parts_mut((*data).points, self.count);
            for (dst, p) in points.iter_mut().zip(positions) {
                dst.__bindgen_anon_1.ptr = [p[0], p[1], 0.0, 0.0];
            }
            sys::gs_vertexbuffer_flush(self.vb);
        }
    }
}

impl Drop for VertexBuffer {
    fn drop(&mut self) {
        // SAFETY: our buffer, destroyed inside the graphics context (nests on the graphics thread).
        unsafe {
            sys::obs_enter_graphics();
            sys::gs_vertexbuffer_destroy(self.vb);
            sys::obs_leave_graphics();
        }
    }
}

/// An effect loaded from the module's data (see [`Gfx::load_effect`]).
#[derive(Debug)]
pub struct Effect(*mut sys::gs_effect_t);

// SAFETY: as for `VertexBuffer`.
unsafe impl Send for Effect {}
// SAFETY: as for `VertexBuffer`.
unsafe impl Sync for Effect {}

impl Drop for Effect {
    fn drop(&mut self) {
        // SAFETY: our effect, destroyed inside the graphics context.
        unsafe {
            sys::obs_enter_graphics();
            sys::gs_effect_destroy(self.0);
            sys::obs_leave_graphics();
        }
    }
}
