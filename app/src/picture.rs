//! Pictures in the page: any file the browser decodes (PNG, JPEG, WebP, GIF, AVIF…) made
//! 8-bit RGBA by the browser's own decoder, without colour management or premultiplied
//! alpha, so the pixels are the file's as the command line's decoder reads them. The
//! engine gets the pixels; it never sees a file format.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, ColorSpaceConversion, ImageBitmap, ImageBitmapOptions, PremultiplyAlpha, ResizeQuality};

/// The most pixels the page hands the engine (4096 × 4096): a larger picture is scaled down
/// by the browser first (the model reads 224 × 224 of it anyway), and the page says so.
pub const PAGE_MAX_PIXELS: usize = 4096 * 4096;

/// A picture ready for the engine, and what the page shows of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    /// What the page calls it: a file's name, "the sample photo", "a pasted picture".
    pub name: String,
    pub width: usize,
    pub height: usize,
    /// 8-bit RGBA, row by row.
    pub rgba: Vec<u8>,
    /// An object URL of the file, for an `<img>` under the attention.
    pub url: String,
    /// The picture's own size, when it was larger than [`PAGE_MAX_PIXELS`] and scaled down.
    pub scaled_from: Option<(usize, usize)>,
}

fn js_message(value: wasm_bindgen::JsValue) -> String {
    value.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| value.as_string()).unwrap_or_else(|| "an unknown error".into())
}

/// The browser's bitmap of `blob`, its pixels as stored (resized to `size` when given).
async fn bitmap(name: &str, blob: &Blob, size: Option<(u32, u32)>) -> Result<ImageBitmap, String> {
    let window = web_sys::window().ok_or("no window")?;
    let options = ImageBitmapOptions::new();
    options.set_color_space_conversion(ColorSpaceConversion::None);
    options.set_premultiply_alpha(PremultiplyAlpha::None);
    if let Some((width, height)) = size {
        options.set_resize_width(width);
        options.set_resize_height(height);
        options.set_resize_quality(ResizeQuality::High);
    }
    let promise = window.create_image_bitmap_with_blob_and_image_bitmap_options(blob, &options).map_err(|e| format!("{name}: {}", js_message(e)))?;
    let bitmap =
        JsFuture::from(promise).await.map_err(|e| format!("{name} is not a picture this browser can decode ({}): try PNG, JPEG or WebP", js_message(e)))?;
    Ok(bitmap.unchecked_into())
}

/// Decodes a file (or any blob) with the browser.
pub async fn decode(name: &str, blob: &Blob) -> Result<Picture, String> {
    if blob.size() == 0.0 {
        return Err(format!("{name} is empty: there is no picture in it"));
    }
    let mut image = bitmap(name, blob, None).await?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    if width == 0 || height == 0 {
        return Err(format!("{name} is {width} × {height} pixels: there is nothing to look at"));
    }
    let mut scaled_from = None;
    if width * height > PAGE_MAX_PIXELS {
        let scale = (PAGE_MAX_PIXELS as f64 / (width * height) as f64).sqrt();
        let size = (((width as f64 * scale) as u32).max(1), ((height as f64 * scale) as u32).max(1));
        image.close();
        image = bitmap(name, blob, Some(size)).await?;
        scaled_from = Some((width, height));
    }
    let (width, height) = (image.width() as usize, image.height() as usize);
    let rgba = pixels(&image).ok_or_else(|| format!("{name}: this browser would not hand over the picture's pixels"))?;
    image.close();
    let url = web_sys::Url::create_object_url_with_blob(blob).map_err(js_message)?;
    Ok(Picture { name: name.into(), width, height, rgba, url, scaled_from })
}

/// A bitmap's RGBA, through a canvas it is drawn on alone.
fn pixels(image: &ImageBitmap) -> Option<Vec<u8>> {
    let canvas: web_sys::HtmlCanvasElement = web_sys::window()?.document()?.create_element("canvas").ok()?.unchecked_into();
    canvas.set_width(image.width());
    canvas.set_height(image.height());
    let context: web_sys::CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    context.draw_image_with_image_bitmap(image, 0.0, 0.0).ok()?;
    let data = context.get_image_data(0.0, 0.0, f64::from(image.width()), f64::from(image.height())).ok()?;
    Some(data.data().0)
}

/// Fetches a picture served beside the page (the sample) and decodes it.
pub async fn fetch_and_decode(url: &str, name: &str) -> Result<Picture, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_str(url)).await.map_err(|e| format!("cannot fetch {url}: {}", js_message(e)))?.unchecked_into();
    if !response.ok() {
        return Err(format!("cannot fetch {url}: {}", response.status()));
    }
    let blob: Blob = JsFuture::from(response.blob().map_err(js_message)?).await.map_err(js_message)?.unchecked_into();
    decode(name, &blob).await
}
