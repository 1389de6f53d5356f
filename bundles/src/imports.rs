//! Where an `import` in a module bundle may lead: only to files of the same
//! bundle, named by a relative specifier. Bundles must be self-contained, so
//! a bare specifier (`react`), an absolute path, a URL or a path that climbs
//! out of the bundle's directory is refused, naming the specifier.

/// Why an import specifier does not name a file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusedImport {
    #[error("{referrer} imports \"{specifier}\": a bare specifier names a package, and bundles must be self-contained (bundle the package into the build)")]
    Bare { referrer: String, specifier: String },
    #[error("{referrer} imports \"{specifier}\": only relative imports of the bundle's own files are allowed, not absolute paths or URLs")]
    NotRelative { referrer: String, specifier: String },
    #[error("{referrer} imports \"{specifier}\": that is outside the bundle's directory")]
    OutsideBundle { referrer: String, specifier: String },
    #[error("{referrer} imports \"{specifier}\": the bundle has no file {path}")]
    Missing {
        referrer: String,
        specifier: String,
        path: String,
    },
}

/// The bundle-relative path (`assets/chunk-1.js`) that `specifier`, imported
/// by the bundle file at `referrer` (also bundle-relative), names.
pub fn resolve_import(referrer: &str, specifier: &str) -> Result<String, RefusedImport> {
    let refused = |make: fn(String, String) -> RefusedImport| {
        Err(make(referrer.to_owned(), specifier.to_owned()))
    };
    let relative = specifier.starts_with("./") || specifier.starts_with("../");
    if !relative {
        let is_path_or_url = specifier.starts_with('/')
            || specifier.contains(':')
            || specifier.starts_with('\\')
            || specifier == "."
            || specifier == "..";
        return if is_path_or_url {
            refused(|referrer, specifier| RefusedImport::NotRelative {
                referrer,
                specifier,
            })
        } else {
            refused(|referrer, specifier| RefusedImport::Bare {
                referrer,
                specifier,
            })
        };
    }
    // A query or fragment does not change which file is meant.
    let path = specifier.split(['?', '#']).next().unwrap_or(specifier);
    let mut parts: Vec<&str> = referrer.split('/').collect();
    parts.pop(); // the referrer's own file name
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return refused(|referrer, specifier| RefusedImport::OutsideBundle {
                        referrer,
                        specifier,
                    });
                }
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// The literal relative specifiers of `import("./...")` expressions in
/// `source`: the chunks a module may load lazily, so that they are part of
/// the bundle (and of its hash and code cache) before anything runs. A
/// match inside a string or comment only adds a candidate; candidates that
/// are not files are skipped by the caller.
pub fn dynamic_import_candidates(source: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("import(") {
        rest = &rest[at + "import(".len()..];
        let arg = rest.trim_start();
        let Some(quote) = arg.chars().next().filter(|c| matches!(c, '"' | '\'' | '`')) else {
            continue;
        };
        let body = &arg[1..];
        let Some(end) = body.find(quote) else {
            continue;
        };
        let specifier = &body[..end];
        let literal = !specifier.contains("${") && !specifier.contains('\n');
        if literal && (specifier.starts_with("./") || specifier.starts_with("../")) {
            found.push(specifier);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_specifiers_resolve_inside_the_bundle() {
        assert_eq!(resolve_import("entry.js", "./a.js").unwrap(), "a.js");
        assert_eq!(
            resolve_import("entry.js", "./assets/c-1.js").unwrap(),
            "assets/c-1.js"
        );
        assert_eq!(
            resolve_import("assets/c-1.js", "../shared/x.js?v=1").unwrap(),
            "shared/x.js"
        );
        assert_eq!(
            resolve_import("assets/c-1.js", "./././d.js").unwrap(),
            "assets/d.js"
        );
    }

    #[test]
    fn everything_else_is_refused_naming_the_specifier() {
        let cases = [
            ("react", "bare specifier"),
            ("react-dom/server", "bare specifier"),
            ("/etc/passwd.js", "only relative"),
            ("file:///x.js", "only relative"),
            ("https://example.com/x.js", "only relative"),
            ("node:fs", "only relative"),
            ("../up.js", "outside the bundle"),
            ("./a/../../up.js", "outside the bundle"),
        ];
        for (specifier, why) in cases {
            let error = resolve_import("entry.js", specifier)
                .unwrap_err()
                .to_string();
            assert!(error.contains(why), "{specifier}: {error}");
            assert!(error.contains(&format!("\"{specifier}\"")), "{error}");
            assert!(error.starts_with("entry.js imports"), "{error}");
        }
    }

    #[test]
    fn literal_dynamic_imports_are_candidates() {
        let source = r#"const a = () => import("./pages/A.js");
            const b = () => import( './B.js' );
            const c = (n) => import(`./C-${n}.js`);
            const d = () => import("react");
            const e = import(name);"#;
        assert_eq!(
            dynamic_import_candidates(source),
            vec!["./pages/A.js", "./B.js"]
        );
    }
}
