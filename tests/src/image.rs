//! Decoding obs-websocket screenshots (`data:image/png;base64,...`) to count drawn pixels.
use anyhow::{Context, Result};
use base64::Engine;

/// A decoded RGBA image.
#[derive(Debug, Clone)]
pub struct Rgba {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// RGBA bytes, row-major.
    pub pixels: Vec<u8>,
}

impl Rgba {
    /// Pixels whose colour is within `tolerance` of `rgb` in every channel.
    pub fn count_rgb(&self, rgb: [u8; 3], tolerance: u8) -> usize {
        self.pixels
            .chunks_exact(4)
            .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= tolerance))
            .count()
    }

    /// The bounding box `(x0, y0, x1, y1)` (inclusive) of the pixels within `tolerance` of `rgb`.
    pub fn rgb_bounds(&self, rgb: [u8; 3], tolerance: u8) -> Option<(u32, u32, u32, u32)> {
        let mut b: Option<(u32, u32, u32, u32)> = None;
        for (i, p) in self.pixels.chunks_exact(4).enumerate() {
            if (0..3).all(|c| p[c].abs_diff(rgb[c]) <= tolerance) {
                let (x, y) = (i as u32 % self.width, i as u32 / self.width);
                b = Some(match b {
                    None => (x, y, x, y),
                    Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                });
            }
        }
        b
    }

    /// Pixels whose alpha is above 32 (drawn, not transparent background).
    pub fn opaque_pixels(&self) -> usize {
        self.pixels.chunks_exact(4).filter(|p| p[3] > 32).count()
    }

    /// Mean (r, g, b) of the opaque pixels in rows `y0..y1`.
    pub fn mean_rgb(&self, y0: u32, y1: u32) -> Option<[f64; 3]> {
        let (mut sum, mut n) = ([0.0f64; 3], 0usize);
        for y in y0..y1.min(self.height) {
            for x in 0..self.width {
                let i = ((y * self.width + x) * 4) as usize;
                let p = &self.pixels[i..i + 4];
                if p[3] > 128 {
                    for c in 0..3 {
                        sum[c] += f64::from(p[c]);
                    }
                    n += 1;
                }
            }
        }
        (n > 0).then(|| sum.map(|s| s / n as f64))
    }

    /// The first row (from the top) with an opaque pixel.
    pub fn first_opaque_row(&self) -> Option<u32> {
        (0..self.height).find(|&y| {
            (0..self.width).any(|x| self.pixels[((y * self.width + x) * 4 + 3) as usize] > 128)
        })
    }

    /// The bounding box `(x0, y0, x1, y1)` (inclusive) of the opaque pixels in rows `y0..y1`.
    pub fn opaque_bounds(&self, y0: u32, y1: u32) -> Option<(u32, u32, u32, u32)> {
        let mut b: Option<(u32, u32, u32, u32)> = None;
        for y in y0..y1.min(self.height) {
            for x in 0..self.width {
                if self.pixels[((y * self.width + x) * 4 + 3) as usize] > 128 {
                    b = Some(match b {
                        None => (x, y, x, y),
                        Some((a, b0, c, _)) => (a.min(x), b0, c.max(x), y),
                    });
                }
            }
        }
        b
    }

    /// Fraction of opaque pixels.
    pub fn coverage(&self) -> f64 {
        self.opaque_pixels() as f64 / f64::from((self.width * self.height).max(1))
    }
}

/// obs-websocket's PNG screenshot of source `source`, as a `data:image/png;base64,...` string.
pub async fn source_screenshot(client: &obws::Client, source: &str) -> Result<String> {
    use obws::requests::sources::{SourceId, TakeScreenshot};
    client
        .sources()
        .take_screenshot(TakeScreenshot {
            source: SourceId::Name(source),
            format: "png",
            width: None,
            height: None,
            compression_quality: None,
        })
        .await
        .with_context(|| format!("screenshot of {source}"))
}

/// Decodes a `data:image/png;base64,...` string (or bare base64).
pub fn decode_data_uri(uri: &str) -> Result<Rgba> {
    let b64 = uri.split_once("base64,").map_or(uri, |(_, b)| b);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .context("base64")?;
    decode_png(&bytes)
}

/// Decodes PNG bytes (any colour type OBS, ffmpeg or Chromium write) to RGBA.
pub fn decode_png(bytes: &[u8]) -> Result<Rgba> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().context("png header")?;
    let size = reader
        .output_buffer_size()
        .context("the PNG is too large to decode")?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).context("png data")?;
    buf.truncate(info.buffer_size());
    let pixels = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        other => anyhow::bail!("unexpected PNG colour type {other:?}"),
    };
    Ok(Rgba {
        width: info.width,
        height: info.height,
        pixels,
    })
}

/// Stores a `data:image/png;base64,...` screenshot as `target/e2e-artifacts/<name>.png`.
pub fn save_data_uri(uri: &str, name: &str) -> Result<std::path::PathBuf> {
    let b64 = uri.split_once("base64,").map_or(uri, |(_, b)| b);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .context("base64")?;
    let path = crate::artifacts::artifacts_dir()?.join(format!("{name}.png"));
    std::fs::write(&path, bytes)?;
    Ok(path)
}
