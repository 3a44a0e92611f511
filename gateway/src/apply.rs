//! `lgsp apply FILE`: declare agencies, systems and services in a TOML file
//! and make the store hold them. Idempotent: applying the same file twice
//! changes nothing the second time and leaves the registry version alone.

use crate::registry::model::RegistryData;
use std::path::Path;

/// Why a registry file cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyFileError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid registry declaration.
    #[error("{path} is not a valid registry file: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
}

/// Reads and validates a registry file (TOML; `.json` files are read as JSON).
pub fn read_registry_file(path: &Path) -> Result<RegistryData, ApplyFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ApplyFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        toml::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|message| ApplyFileError::Parse {
        path: shown,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_full_declaration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.toml");
        std::fs::write(
            &path,
            r#"
[[agencies]]
code = "000.00.00.H29"
name = "UBND tỉnh Đồng Tháp"

[[systems]]
slug = "motcua-xa-a"
agency = "000.00.00.H29"
name = "Một cửa xã A"
security_level = 3

[[services]]
slug = "population"
version = "v1"
name = "Tra cứu dân cư"
owner = "000.00.00.H29"
personal_data = true
data_class = "confidential"
security_level = 3
upstream = { url = "http://127.0.0.1:9000/population/v1", timeout_ms = 3000 }
operations = [{ method = "GET", path = "/citizens/{soDinhDanh}" }]
"#,
        )
        .expect("write");
        let data = read_registry_file(&path).expect("valid");
        assert_eq!(data.agencies[0].name, "UBND tỉnh Đồng Tháp");
        assert_eq!(data.services[0].upstream.timeout_ms, Some(3000));
        assert_eq!(data.systems[0].security_level.get(), 3);
    }

    #[test]
    fn bad_agency_code_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.toml");
        std::fs::write(&path, "[[agencies]]\ncode = \"H29\"\nname = \"x\"\n").expect("write");
        let msg = read_registry_file(&path).expect_err("invalid").to_string();
        assert!(msg.contains("agency code must look like"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.toml");
        std::fs::write(
            &path,
            "[[agencies]]\ncode = \"000.00.00.H29\"\nname = \"x\"\ncolour = \"red\"\n",
        )
        .expect("write");
        assert!(read_registry_file(&path).is_err());
    }
}
