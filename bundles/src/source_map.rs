//! A bundle's source map, so that error stacks pointing into the bundle
//! (`server.js:1:48213`) name the original sources (`src/pages/Home.jsx:42:17`)
//! and functions. Where the map is, is found when the bundle is read (a
//! `//# sourceMappingURL=` comment, inline or naming a file inside the
//! bundle's directory, else a `.map` file beside it); it is read and parsed
//! once, at the first stack that needs it, never for a render that
//! succeeds. A map that cannot be read or parsed is logged once and
//! ignored: stacks then stay as V8 wrote them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sourcemap::DecodedMap;

use crate::BundleFile;

/// Where a bundle's map is.
#[derive(Debug, Clone)]
enum Location {
    /// The map's JSON, from a `data:` URL.
    Inline(Vec<u8>),
    File(PathBuf),
}

/// A bundle's source map, parsed on first use.
#[derive(Default)]
pub(crate) struct SourceMap {
    location: Option<Location>,
    /// What the map's relative source paths are relative to: the map
    /// file's directory (the bundle's for an inline map).
    base: PathBuf,
    parsed: OnceLock<Option<DecodedMap>>,
}

impl SourceMap {
    /// Finds the map of the bundle read from `path` with `source`.
    pub fn find(path: &Path, source: &str) -> Self {
        let location = match mapping_url(source) {
            Some(url) => from_url(path, url),
            None => {
                let beside = PathBuf::from(format!("{}.map", path.display()));
                beside.is_file().then_some(Location::File(beside))
            }
        };
        let base = match &location {
            Some(Location::File(file)) => directory_of(file),
            _ => directory_of(path),
        };
        Self {
            location,
            // As Node shows them: absolute.
            base: base.canonicalize().unwrap_or(base),
            parsed: OnceLock::new(),
        }
    }

    /// The parsed map; None without one, or when it is broken (logged the
    /// first time, as the bundle file `name`'s).
    fn map(&self, name: &str) -> Option<&DecodedMap> {
        self.parsed
            .get_or_init(|| {
                let location = self.location.as_ref()?;
                let parsed = read(location).and_then(|bytes| {
                    sourcemap::decode_slice(&bytes).map_err(|e| format!("invalid source map: {e}"))
                });
                parsed
                    .map_err(|error| {
                        tracing::warn!(bundle = name, %error, "the bundle's source map is ignored")
                    })
                    .ok()
            })
            .as_ref()
    }
}

/// `stack` with every frame in one of `files` that has a map mapped to its
/// original source, position and (where the map has it) function name.
pub(crate) fn map_stack(files: &[BundleFile], stack: &str) -> String {
    let map_of = |frame: &Frame| {
        let file = files.iter().find(|f| f.name() == frame.file)?;
        Some((file.source_map.map(file.name())?, &file.source_map.base))
    };
    let lines: Vec<&str> = stack.lines().collect();
    let frames: Vec<Option<(Frame, &DecodedMap, &PathBuf)>> = lines
        .iter()
        .map(|line| {
            let frame = Frame::parse(line)?;
            let (map, base) = map_of(&frame)?;
            Some((frame, map, base))
        })
        .collect();
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| match &frames[i] {
            // Node's rule: a function's original name is the name at the
            // position its caller called it from.
            Some((frame, map, base)) => {
                let caller = frames
                    .get(i + 1)
                    .and_then(Option::as_ref)
                    .map(|(frame, map, _)| (frame, *map));
                frame
                    .mapped(map, caller, base)
                    .unwrap_or_else(|| (*line).to_owned())
            }
            None => (*line).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The URL of the last `//# sourceMappingURL=` comment, as bundlers write
/// it on the last lines.
fn mapping_url(source: &str) -> Option<&str> {
    source
        .lines()
        .rev()
        .take(5)
        .find_map(|line| line.trim().strip_prefix("//# sourceMappingURL="))
        .map(str::trim)
}

fn from_url(path: &Path, url: &str) -> Option<Location> {
    if let Some(data) = url.strip_prefix("data:") {
        let (_, encoded) = data.split_once(";base64,")?;
        use base64::Engine;
        return base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .map(Location::Inline);
    }
    // A file of the bundle: relative, and inside the bundle's directory.
    let dir = directory_of(path);
    let file = dir.join(url);
    let relative = !url.contains("://") && Path::new(url).is_relative();
    let within = file
        .canonicalize()
        .ok()
        .zip(dir.canonicalize().ok())
        .is_some_and(|(file, dir)| file.starts_with(dir));
    if !relative || !within {
        tracing::warn!(bundle = %path.display(), url, "sourceMappingURL outside the bundle is ignored");
        return None;
    }
    Some(Location::File(file))
}

fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A map's `source` as a path: relative ones joined to `base` and
/// normalised (`a/../b` is `b`); URLs (`webpack://...`) as they are.
fn resolve(base: &Path, source: &str) -> String {
    if source.contains("://") {
        return source.to_owned();
    }
    let mut path = PathBuf::new();
    for part in base.join(source).components() {
        match part {
            std::path::Component::ParentDir => {
                path.pop();
            }
            std::path::Component::CurDir => {}
            other => path.push(other),
        }
    }
    path.display().to_string()
}

fn read(location: &Location) -> Result<Vec<u8>, String> {
    match location {
        Location::Inline(bytes) => Ok(bytes.clone()),
        Location::File(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
    }
}

/// One `    at function (file:line:column)` line of a V8 stack.
struct Frame<'a> {
    /// The line up to and with `at `.
    head: &'a str,
    /// The resource name of the script or module.
    file: &'a str,
    /// `render`, `async render`, `new Page`; None for `at file:line:col`.
    function: Option<&'a str>,
    /// Zero-based, as source maps count.
    line: u32,
    column: u32,
}

impl<'a> Frame<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let at = text.find("at ")? + 3;
        let (function, location) = match text.rfind(" (") {
            Some(open) if open >= at && text.ends_with(')') => {
                (Some(&text[at..open]), &text[open + 2..text.len() - 1])
            }
            _ => (None, &text[at..]),
        };
        let (rest, column) = location.rsplit_once(':')?;
        let (file, line) = rest.rsplit_once(':')?;
        Some(Self {
            head: &text[..at],
            file,
            function,
            line: line.parse::<u32>().ok()?.checked_sub(1)?,
            column: column.parse::<u32>().ok()?.checked_sub(1)?,
        })
    }

    fn mapped(
        &self,
        map: &DecodedMap,
        caller: Option<(&Frame, &DecodedMap)>,
        base: &Path,
    ) -> Option<String> {
        let token = map.lookup_token(self.line, self.column)?;
        let source = resolve(base, token.get_source()?);
        let (line, column) = (token.get_src_line() + 1, token.get_src_col() + 1);
        let position = format!("{source}:{line}:{column}");
        let Some(function) = self.function else {
            return Some(format!("{}{position}", self.head));
        };
        // Keep what V8 wrote before the name (`async `, `new `).
        let (qualifier, own) = match function.rsplit_once(' ') {
            Some((qualifier, own)) => (&function[..qualifier.len() + 1], own),
            None => ("", function),
        };
        let original = caller
            .and_then(|(frame, map)| map.lookup_token(frame.line, frame.column))
            .and_then(|t| t.get_name().map(str::to_owned));
        let name = original.as_deref().unwrap_or(own);
        Some(format!("{}{qualifier}{name} ({position})", self.head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_in_the_bundle_are_parsed_with_their_qualifiers() {
        let frame = Frame::parse("    at async render (dist/server.js:1:48213)")
            .expect("a frame of the bundle");
        assert_eq!(frame.head, "    at ");
        assert_eq!(frame.file, "dist/server.js");
        assert_eq!(frame.function, Some("async render"));
        assert_eq!((frame.line, frame.column), (0, 48212));
        let bare = Frame::parse("    at dist/server.js:3:4").unwrap();
        assert_eq!(bare.function, None);
        assert_eq!(bare.file, "dist/server.js");
        assert!(Frame::parse("RangeError: at 1:2").is_none());
    }

    #[test]
    fn relative_sources_resolve_against_the_map_and_urls_stay() {
        let base = Path::new("/app/dist");
        assert_eq!(resolve(base, "../src/Home.jsx"), "/app/src/Home.jsx");
        assert_eq!(resolve(base, "./a/./b.js"), "/app/dist/a/b.js");
        assert_eq!(
            resolve(base, "webpack://app/src/x.js"),
            "webpack://app/src/x.js"
        );
    }
}
