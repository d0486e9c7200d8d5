//! Image files read natively (the command line; the page lets the browser decode): PNG,
//! JPEG, WebP, GIF and BMP, any colour type, to 8-bit RGB over white. The decoder is told
//! the size limit first, so a file claiming a huge size is refused before its pixels are
//! allocated.

use std::io::Cursor;

use image::{ImageReader, Limits};

use super::{Rgb, MAX_PIXELS};
use crate::error::{EngineError, Result};

/// The widest or tallest picture taken: a side of [`MAX_PIXELS`]'s square.
const MAX_SIDE: u32 = 8192;

/// Decodes an image file's bytes.
pub fn decode(bytes: &[u8]) -> Result<Rgb> {
    if bytes.is_empty() {
        return Err(EngineError::BadImage("the file is empty".into()));
    }
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| EngineError::BadImage(e.to_string()))?;
    if reader.format().is_none() {
        return Err(EngineError::BadImage("this is not an image: PNG, JPEG, WebP, GIF and BMP are read".into()));
    }
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some((MAX_PIXELS * 8) as u64);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => {
            EngineError::BadImage(format!("the picture is larger than {MAX_SIDE} × {MAX_SIDE} pixels, the most this tool takes: scale it down first"))
        }
        other => EngineError::BadImage(format!("the file is cut short or corrupt ({other})")),
    })?;
    let rgba = decoded.to_rgba8();
    Ok(Rgb::from_rgba(rgba.width() as usize, rgba.height() as usize, rgba.as_raw())?)
}
