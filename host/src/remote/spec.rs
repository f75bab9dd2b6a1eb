//! Which remote source a SOURCE argument (or the seed's `--source-type` and
//! `--source-info`) names.
//!
//! | form | source |
//! |---|---|
//! | `https://host/path/file.py[#sha256=HEX]` | one file or `.zip` over HTTPS (`http://` with `--allow-insecure-http`) |
//! | `s3://bucket/key`, `s3://bucket/prefix/` | an object, or every object under a prefix |
//! | `https://s3.amazonaws.com/bucket/key`, `https://bucket.s3.REGION.amazonaws.com/key` | the same, in S3's URL forms |
//! | `github:OWNER/REPO/PATH[@REF]` | a file or folder of a GitHub repository |
//! | `git+URL[@REF][#path=PATH]` | a file or folder of any git repository (`https`, `ssh`, `git`, `file`) |

use serde::Deserialize;
use url::Url;

use crate::exit::bad_input;

/// A source that is fetched before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSource {
    /// One file over HTTP(S).
    Http {
        /// Without the `#sha256=` fragment.
        url: Url,
        /// The expected sha256 (hex), from `#sha256=`.
        pin: Option<String>,
    },
    /// An S3 object, or every object under a prefix (a key ending in `/`).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key or prefix.
        key: String,
        /// The region named by the URL, if any.
        region: Option<String>,
    },
    /// A file or folder of a GitHub repository, through the contents API.
    GitHub {
        /// The owner (user or organisation).
        owner: String,
        /// The repository.
        repo: String,
        /// A file or folder inside it ("" for the root).
        path: String,
        /// A branch, tag or commit.
        reference: GitRef,
        /// `tokenInfo`: a secret reference or a literal token.
        token: Option<String>,
    },
    /// A file or folder of a git repository, through the `git` client.
    Git {
        /// What `git` fetches from.
        url: String,
        /// A branch, tag or commit (the remote's HEAD without one).
        reference: GitRef,
        /// A file or folder inside the repository ("" for all of it).
        path: String,
    },
}

/// A branch or tag (mutable: resolved on every run unless `--offline`), a
/// commit (immutable), or the repository's default branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// The default branch.
    Default,
    /// A branch or tag name.
    Branch(String),
    /// A full 40-hex commit id.
    Commit(String),
}

impl GitRef {
    fn parse(text: &str) -> GitRef {
        if text.is_empty() {
            GitRef::Default
        } else if text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            GitRef::Commit(text.to_ascii_lowercase())
        } else {
            GitRef::Branch(text.to_string())
        }
    }

    /// The name a remote resolves: the branch, tag or commit, or `HEAD`.
    pub fn remote_name(&self) -> &str {
        match self {
            GitRef::Default => "HEAD",
            GitRef::Branch(name) | GitRef::Commit(name) => name,
        }
    }

    /// As written in a source string (`@main`), or empty for the default.
    pub fn suffix(&self) -> String {
        match self {
            GitRef::Default => String::new(),
            GitRef::Branch(name) | GitRef::Commit(name) => format!("@{name}"),
        }
    }
}

impl RemoteSource {
    /// A short kind name: `https`, `s3`, `github` or `git`.
    pub fn kind(&self) -> &'static str {
        match self {
            RemoteSource::Http { .. } => "https",
            RemoteSource::S3 { .. } => "s3",
            RemoteSource::GitHub { .. } => "github",
            RemoteSource::Git { .. } => "git",
        }
    }

    /// The source as people write it, without secrets.
    pub fn display(&self) -> String {
        match self {
            RemoteSource::Http { url, .. } => url.to_string(),
            RemoteSource::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
            RemoteSource::GitHub {
                owner,
                repo,
                path,
                reference,
                ..
            } => format!("github:{owner}/{repo}/{path}{}", reference.suffix()),
            RemoteSource::Git {
                url,
                reference,
                path,
            } => {
                let path = if path.is_empty() {
                    String::new()
                } else {
                    format!("#path={path}")
                };
                format!("git+{url}{}{path}", reference.suffix())
            }
        }
    }
}

/// Parses SOURCE; `None` means a local path (or `-`).
pub fn parse(source: &str) -> anyhow::Result<Option<RemoteSource>> {
    if let Some(rest) = source.strip_prefix("github:") {
        return parse_github(rest).map(Some);
    }
    if let Some(rest) = source.strip_prefix("git+") {
        return parse_git(rest).map(Some);
    }
    if let Some(rest) = source.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad_input!(
                "{source}: expected s3://BUCKET/KEY or s3://BUCKET/PREFIX/"
            ));
        }
        return Ok(Some(RemoteSource::S3 {
            bucket: bucket.into(),
            key: key.into(),
            region: None,
        }));
    }
    if source.starts_with("https://") || source.starts_with("http://") {
        let mut url =
            Url::parse(source).map_err(|e| bad_input!("{source}: not a valid URL: {e}"))?;
        if let Some(s3) = s3_from_url(&url) {
            return Ok(Some(s3));
        }
        let pin = match url.fragment() {
            Some(fragment) => Some(parse_pin(fragment, source)?),
            None => None,
        };
        url.set_fragment(None);
        return Ok(Some(RemoteSource::Http { url, pin }));
    }
    Ok(None)
}

fn parse_pin(fragment: &str, source: &str) -> anyhow::Result<String> {
    let hex = fragment.strip_prefix("sha256=").ok_or_else(|| {
        bad_input!("{source}: the only URL fragment sandrun reads is #sha256=<64 hex digits>")
    })?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad_input!("{source}: #sha256= needs 64 hex digits"));
    }
    Ok(hex.to_ascii_lowercase())
}

fn parse_github(rest: &str) -> anyhow::Result<RemoteSource> {
    let (location, reference) = match rest.rsplit_once('@') {
        Some((location, reference)) => (location, GitRef::parse(reference)),
        None => (rest, GitRef::Default),
    };
    let mut parts = location.splitn(3, '/');
    let owner = parts.next().unwrap_or_default();
    let repo = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default().trim_matches('/');
    if owner.is_empty() || repo.is_empty() {
        return Err(bad_input!(
            "github:{rest}: expected github:OWNER/REPO/PATH[@REF]"
        ));
    }
    Ok(RemoteSource::GitHub {
        owner: owner.into(),
        repo: repo.into(),
        path: path.into(),
        reference,
        token: None,
    })
}

fn parse_git(rest: &str) -> anyhow::Result<RemoteSource> {
    let (location, path) = match rest.split_once("#path=") {
        Some((location, path)) => (location, path.trim_matches('/')),
        None => (rest, ""),
    };
    // The ref follows the last `@` after the last `/` (ssh URLs carry `git@`).
    let slash = location.rfind('/').unwrap_or(0);
    let (url, reference) = match location[slash..].rfind('@') {
        Some(at) => (
            &location[..slash + at],
            GitRef::parse(&location[slash + at + 1..]),
        ),
        None => (location, GitRef::Default),
    };
    let scheme = url.split("://").next().unwrap_or_default();
    if !matches!(scheme, "https" | "http" | "ssh" | "git" | "file") || !url.contains("://") {
        return Err(bad_input!(
            "git+{rest}: expected git+https://…, git+ssh://…, git+git://… or git+file://… \
             (then @REF and #path=PATH, both optional)"
        ));
    }
    Ok(RemoteSource::Git {
        url: url.into(),
        reference,
        path: path.into(),
    })
}

/// `https://s3.amazonaws.com/bucket/key`, `https://s3.REGION.amazonaws.com/bucket/key`,
/// `https://bucket.s3.amazonaws.com/key`, `https://bucket.s3.REGION.amazonaws.com/key`
/// (and `s3-REGION`).
fn s3_from_url(url: &Url) -> Option<RemoteSource> {
    let host = url.host_str()?;
    let base = host.strip_suffix(".amazonaws.com")?;
    let path = url.path().trim_start_matches('/');
    let region_of = |label: &str| -> Option<Option<String>> {
        if label == "s3" {
            return Some(None);
        }
        label
            .strip_prefix("s3.")
            .or_else(|| label.strip_prefix("s3-"))
            .map(|region| Some(region.to_string()))
    };
    let decode = |text: &str| {
        url::form_urlencoded::parse(format!("k={text}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| text.to_string())
    };
    if let Some(region) = region_of(base) {
        // Path style: the bucket is the first path segment.
        let (bucket, key) = path.split_once('/')?;
        return Some(RemoteSource::S3 {
            bucket: bucket.into(),
            key: decode(key),
            region,
        });
    }
    // Virtual-hosted style: bucket.s3[.region].amazonaws.com
    let (bucket, label) = base.split_once(".s3").map(|(b, l)| (b, format!("s3{l}")))?;
    let region = region_of(&label)?;
    Some(RemoteSource::S3 {
        bucket: bucket.into(),
        key: decode(path),
        region,
    })
}

/// The seed's `sourceInfo` for `sourceType: GitHub`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GitHubInfo {
    owner: String,
    repository: String,
    #[serde(default)]
    path: String,
    #[serde(default, rename = "getOptions")]
    get_options: Option<String>,
    #[serde(default, rename = "tokenInfo")]
    token_info: Option<String>,
}

/// The seed's `sourceInfo` for `sourceType: S3`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct S3Info {
    path: String,
}

/// `--source-type GitHub|S3 --source-info JSON`, as AWS-RunRemoteScript takes them.
pub fn from_seed(source_type: &str, info: &str) -> anyhow::Result<RemoteSource> {
    match source_type.to_ascii_lowercase().as_str() {
        "github" => {
            let info: GitHubInfo = serde_json::from_str(info)
                .map_err(|e| bad_input!("--source-info for GitHub: {e}"))?;
            let reference = match info.get_options.as_deref().map(str::trim) {
                None | Some("") => GitRef::Default,
                Some(option) => {
                    if let Some(branch) = option.strip_prefix("branch:") {
                        GitRef::Branch(branch.trim().to_string())
                    } else if let Some(commit) = option.strip_prefix("commitID:") {
                        match GitRef::parse(commit.trim()) {
                            commit @ GitRef::Commit(_) => commit,
                            _ => {
                                return Err(bad_input!(
                                    "getOptions {option:?}: a commitID is a full 40-hex commit sha"
                                ));
                            }
                        }
                    } else {
                        return Err(bad_input!(
                            "getOptions {option:?}: expected \"branch:NAME\" or \"commitID:SHA\""
                        ));
                    }
                }
            };
            Ok(RemoteSource::GitHub {
                owner: info.owner,
                repo: info.repository,
                path: info.path.trim_matches('/').to_string(),
                reference,
                token: info.token_info,
            })
        }
        "s3" => {
            let info: S3Info =
                serde_json::from_str(info).map_err(|e| bad_input!("--source-info for S3: {e}"))?;
            match parse(&info.path)? {
                Some(source @ (RemoteSource::S3 { .. } | RemoteSource::Http { .. })) => Ok(source),
                _ => Err(bad_input!(
                    "--source-info path {:?}: expected an S3 URL such as https://s3.amazonaws.com/bucket/key",
                    info.path
                )),
            }
        }
        other => Err(bad_input!(
            "--source-type {other:?} is not supported; use GitHub or S3 (or give the source directly)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str, key: &str, region: Option<&str>) -> RemoteSource {
        RemoteSource::S3 {
            bucket: bucket.into(),
            key: key.into(),
            region: region.map(Into::into),
        }
    }

    #[test]
    fn s3_forms_parse() {
        assert_eq!(
            parse("s3://b/dir/a.py").unwrap(),
            Some(s3("b", "dir/a.py", None))
        );
        assert_eq!(parse("s3://b/dir/").unwrap(), Some(s3("b", "dir/", None)));
        assert_eq!(
            parse("https://s3.amazonaws.com/RubyTest/scripts/hello.py").unwrap(),
            Some(s3("RubyTest", "scripts/hello.py", None))
        );
        assert_eq!(
            parse("https://my-bucket.s3.eu-west-1.amazonaws.com/a/b.zip").unwrap(),
            Some(s3("my-bucket", "a/b.zip", Some("eu-west-1")))
        );
        assert_eq!(
            parse("https://s3.us-east-2.amazonaws.com/bkt/x.py").unwrap(),
            Some(s3("bkt", "x.py", Some("us-east-2")))
        );
    }

    #[test]
    fn github_and_git_forms_parse() {
        let RemoteSource::GitHub {
            owner,
            repo,
            path,
            reference,
            ..
        } = parse("github:octo/tools/scripts/run@main")
            .unwrap()
            .unwrap()
        else {
            panic!("not github")
        };
        assert_eq!(
            (owner.as_str(), repo.as_str(), path.as_str()),
            ("octo", "tools", "scripts/run")
        );
        assert_eq!(reference, GitRef::Branch("main".into()));
        let sha = "a".repeat(40);
        let source = parse(&format!(
            "git+ssh://git@example.test/org/repo.git@{sha}#path=tools/x"
        ))
        .unwrap();
        assert_eq!(
            source,
            Some(RemoteSource::Git {
                url: "ssh://git@example.test/org/repo.git".into(),
                reference: GitRef::Commit(sha),
                path: "tools/x".into()
            })
        );
        assert!(parse("git+ftp://x/y").is_err());
    }

    #[test]
    fn pins_and_seed_forms_parse() {
        let pin = "0".repeat(64);
        let Some(RemoteSource::Http { url, pin: got }) =
            parse(&format!("https://example.test/a.py#sha256={pin}")).unwrap()
        else {
            panic!("not http")
        };
        assert_eq!(url.as_str(), "https://example.test/a.py");
        assert_eq!(got, Some(pin));
        assert!(parse("https://example.test/a.py#md5=1").is_err());
        let seed = from_seed(
            "GitHub",
            r#"{"owner": "o", "repository": "r", "path": "p/", "getOptions": "branch:dev", "tokenInfo": "{{ssm-secure:t}}"}"#,
        )
        .unwrap();
        assert_eq!(seed.display(), "github:o/r/p@dev");
        assert!(from_seed("GitHub", r#"{"owner": "o"}"#).is_err());
        assert!(from_seed("Ansible", "{}").is_err());
        let s3 = from_seed("S3", r#"{"path": "https://s3.amazonaws.com/b/k.py"}"#).unwrap();
        assert_eq!(s3.display(), "s3://b/k.py");
    }
}
