//! What names a module: its URL and whether it is JavaScript or JSON, as an import asks for it.

use serde::{Deserialize, Serialize};

use crate::error::HostError;

/// JS source or JSON data: the same URL may be imported as both, as two modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModuleKind {
    JavaScript,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModuleKey {
    pub url: String,
    pub kind: ModuleKind,
}

/// The kind an import's attributes ask for (`with { type: "json" }`), or why they can't be met.
pub fn requested_kind(
    scope: &mut v8::PinScope<'_, '_>,
    attributes: v8::Local<'_, v8::FixedArray>,
    entry_size: usize,
) -> Result<ModuleKind, HostError> {
    let mut kind = ModuleKind::JavaScript;
    let mut index = 0;
    while index + 1 < attributes.length() {
        let key = attributes.get(scope, index).and_then(|k| v8::Local::<v8::Value>::try_from(k).ok());
        let value = attributes.get(scope, index + 1).and_then(|v| v8::Local::<v8::Value>::try_from(v).ok());
        if let (Some(key), Some(value)) = (key, value) {
            let (key, value) = (key.to_rust_string_lossy(scope), value.to_rust_string_lossy(scope));
            match (key.as_str(), value.as_str()) {
                ("type", "json") => kind = ModuleKind::Json,
                ("type", other) => return Err(HostError::type_error(format!("unsupported module type '{other}'"))),
                (other, _) => return Err(HostError::type_error(format!("unsupported import attribute '{other}'"))),
            }
        }
        index += entry_size;
    }
    Ok(kind)
}
