//! The profiles file: one JSON document with a schema version in the platform config directory,
//! written atomically (temp file, fsync, rename) and readable by its owner only. A file that cannot
//! be read as ours (corrupt, or written by a newer hubscope) is set aside under a new name and
//! reported; it is never overwritten.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::Profile;

/// The schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;
/// Overrides the config directory (tests, portable setups).
pub const CONFIG_DIR_ENV: &str = "HUBSCOPE_CONFIG_DIR";
const FILE_NAME: &str = "profiles.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfilesFile {
    pub schema_version: u32,
    /// The profile that was connected last, reconnected on start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected: Option<String>,
    pub profiles: Vec<Profile>,
}

impl Default for ProfilesFile {
    fn default() -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            selected: None,
            profiles: Vec::new(),
        }
    }
}

impl ProfilesFile {
    #[must_use]
    pub fn find(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name).or_else(|| {
            self.profiles
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(name))
        })
    }

    /// A name not yet taken, based on `base` ("x", "x (2)", "x (3)", ...).
    #[must_use]
    pub fn unique_name(&self, base: &str) -> String {
        let taken = |n: &str| self.profiles.iter().any(|p| p.name.eq_ignore_ascii_case(n));
        if !taken(base) {
            return base.to_string();
        }
        (2..=self.profiles.len() + 2)
            .map(|i| format!("{base} ({i})"))
            .find(|n| !taken(n))
            .unwrap_or_else(|| base.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no config directory could be found for this user (set {CONFIG_DIR_ENV})")]
    NoConfigDir,
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a hubscope profiles file: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

/// What loading found: the profiles, and whether a file had to be set aside.
#[derive(Debug)]
pub struct Loaded {
    pub file: ProfilesFile,
    /// The file did not exist: this is a first run.
    pub first_run: bool,
    /// A message for the user when the file on disk could not be used.
    pub set_aside: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ProfileStore {
    path: PathBuf,
}

impl ProfileStore {
    /// The store in `$HUBSCOPE_CONFIG_DIR`, or else the platform config directory.
    pub fn open_default() -> Result<Self, StoreError> {
        let dir = match std::env::var_os(CONFIG_DIR_ENV) {
            Some(dir) => PathBuf::from(dir),
            None => directories::ProjectDirs::from("dev", "hubscope", "hubscope")
                .ok_or(StoreError::NoConfigDir)?
                .config_dir()
                .to_path_buf(),
        };
        Ok(Self::in_dir(&dir))
    }

    #[must_use]
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
        }
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file. A missing file is a first run; an unreadable one is set aside and reported.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Loaded {
                    file: ProfilesFile::default(),
                    first_run: true,
                    set_aside: None,
                })
            }
            Err(e) => return Err(io("read", &self.path)(e)),
        };
        let problem = match parse(&text) {
            Ok(file) => {
                return Ok(Loaded {
                    file,
                    first_run: false,
                    set_aside: None,
                })
            }
            Err(problem) => problem,
        };
        let aside = self.set_aside_path(problem.suffix());
        fs::rename(&self.path, &aside).map_err(io("set aside", &self.path))?;
        tracing::warn!(path = %aside.display(), "profiles file set aside: {}", problem.message());
        Ok(Loaded {
            file: ProfilesFile::default(),
            first_run: false,
            set_aside: Some(format!(
                "{} {}; it was kept as {} and hubscope started with no saved profiles.",
                self.path.display(),
                problem.message(),
                aside.display()
            )),
        })
    }

    /// Writes the file atomically, readable by its owner only.
    pub fn save(&self, file: &ProfilesFile) -> Result<(), StoreError> {
        write_atomically(&self.path, &to_json(file)?)
    }

    fn set_aside_path(&self, suffix: &str) -> PathBuf {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.path
            .with_file_name(format!("{FILE_NAME}.{suffix}-{stamp}"))
    }
}

/// Writes `profiles` to `path` in the store's format; secrets are blanked unless asked for.
pub fn export(path: &Path, profiles: &[Profile], include_secrets: bool) -> Result<(), StoreError> {
    let file = ProfilesFile {
        schema_version: SCHEMA_VERSION,
        selected: None,
        profiles: profiles
            .iter()
            .map(|p| {
                if include_secrets {
                    p.clone()
                } else {
                    p.without_secrets()
                }
            })
            .collect(),
    };
    write_atomically(path, &to_json(&file)?)
}

/// Reads profiles exported by [`export`] (or a whole profiles file).
pub fn import(path: &Path) -> Result<Vec<Profile>, StoreError> {
    let text = fs::read_to_string(path).map_err(io("read", path))?;
    parse(&text)
        .map(|f| f.profiles)
        .map_err(|problem| match problem {
            Problem::Corrupt(source) => StoreError::Format {
                path: path.to_path_buf(),
                source,
            },
            Problem::Newer(v) => StoreError::Io {
                action: "import",
                path: path.to_path_buf(),
                source: std::io::Error::other(format!(
                "it was written by a newer hubscope (schema {v}; this build reads {SCHEMA_VERSION})"
            )),
            },
        })
}

enum Problem {
    Corrupt(serde_json::Error),
    Newer(u64),
}

impl Problem {
    fn suffix(&self) -> &'static str {
        match self {
            Problem::Corrupt(_) => "corrupt",
            Problem::Newer(_) => "newer",
        }
    }
    fn message(&self) -> String {
        match self {
            Problem::Corrupt(e) => format!("could not be read ({e})"),
            Problem::Newer(v) => format!(
                "was written by a newer hubscope (schema {v}; this build reads {SCHEMA_VERSION})"
            ),
        }
    }
}

fn parse(text: &str) -> Result<ProfilesFile, Problem> {
    // Look at the version first: a newer file may not parse as ours, and must not be called corrupt.
    let value: serde_json::Value = serde_json::from_str(text).map_err(Problem::Corrupt)?;
    if let Some(v) = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        if v > u64::from(SCHEMA_VERSION) {
            return Err(Problem::Newer(v));
        }
    }
    serde_json::from_value(value).map_err(Problem::Corrupt)
}

fn to_json(file: &ProfilesFile) -> Result<Vec<u8>, StoreError> {
    let mut bytes = serde_json::to_vec_pretty(file).map_err(|source| StoreError::Format {
        path: PathBuf::new(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(io("create", dir))?;
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&temp, path)) {
        let _ = fs::remove_file(&temp);
        return Err(io("write", path)(e));
    }
    // The rename is durable once the directory is synced; failing that is not worth an error.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::model::{Profile, ProfileKind, Secret};

    fn sample() -> ProfilesFile {
        let mut cs = Profile::new_connection_string();
        cs.name = "prod".into();
        cs.kind = ProfileKind::ConnectionString {
            connection_string: Secret::new(
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=R;SharedAccessKey=topsecret;EntityPath=h",
            ),
            hub: None,
        };
        ProfilesFile {
            schema_version: SCHEMA_VERSION,
            selected: Some("prod".into()),
            profiles: vec![Profile::local_emulator(), cs],
        }
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ProfileStore::in_dir(dir.path());
        let first = store.load().expect("load");
        assert!(first.first_run);
        store.save(&sample()).expect("save");
        let loaded = store.load().expect("load");
        assert!(!loaded.first_run);
        assert_eq!(loaded.file, sample());
        assert!(loaded.set_aside.is_none());
    }

    #[cfg(unix)]
    #[test]
    fn only_the_owner_can_read_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ProfileStore::in_dir(dir.path());
        store.save(&sample()).expect("save");
        let mode = fs::metadata(store.path())
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn writes_leave_no_temp_file_and_replace_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ProfileStore::in_dir(dir.path());
        store.save(&sample()).expect("save");
        let mut smaller = sample();
        smaller.profiles.truncate(1);
        store.save(&smaller).expect("save");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![FILE_NAME.to_string()]);
        assert_eq!(store.load().expect("load").file, smaller);
    }

    #[test]
    fn a_corrupt_file_is_kept_and_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ProfileStore::in_dir(dir.path());
        fs::write(store.path(), "{ not json").expect("write");
        let loaded = store.load().expect("load");
        let message = loaded.set_aside.expect("reported");
        assert!(message.contains("could not be read"), "{message}");
        assert!(loaded.file.profiles.is_empty());
        let kept: Vec<_> = fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(kept.len(), 1);
        assert!(kept[0].to_string_lossy().contains(".corrupt-"));
        assert_eq!(fs::read_to_string(&kept[0]).expect("read"), "{ not json");
        // Saving afterwards writes a fresh file beside the one set aside.
        store.save(&sample()).expect("save");
        assert_eq!(fs::read_dir(dir.path()).expect("read_dir").count(), 2);
    }

    #[test]
    fn a_newer_file_is_not_called_corrupt_and_not_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ProfileStore::in_dir(dir.path());
        fs::write(
            store.path(),
            r#"{"schema_version": 9, "profiles": "different"}"#,
        )
        .expect("write");
        let message = store.load().expect("load").set_aside.expect("reported");
        assert!(message.contains("newer hubscope"), "{message}");
        assert!(fs::read_dir(dir.path()).expect("read_dir").any(|e| e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .contains(".newer-")));
    }

    #[test]
    fn exports_leave_secrets_out_unless_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("export.json");
        export(&path, &sample().profiles, false).expect("export");
        assert!(!fs::read_to_string(&path)
            .expect("read")
            .contains("topsecret"));
        assert_eq!(import(&path).expect("import").len(), 2);
        export(&path, &sample().profiles, true).expect("export");
        assert_eq!(import(&path).expect("import"), sample().profiles);
        fs::write(&path, "[]").expect("write");
        assert!(matches!(import(&path), Err(StoreError::Format { .. })));
    }
}
