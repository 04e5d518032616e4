//! Core errors as JavaScript errors.
//!
//! deno_core builds the thrown value from [`JsErrorClass`]: the class must be one registered in the realm
//! (an unregistered class name makes deno_core's error builder return `undefined`), so every error is thrown as a
//! plain `Error` whose message reads `[5003] export not found: ...` and which carries two extra properties:
//! `code` (the stable number, 5000–5013) and `wasmErrorName` (`"ExportNotFound"`). `ts/ops_backend.ts` turns
//! such an error into a `WasmError` with the same `.code`, `.name` and message.

use std::borrow::Cow;

use deno_error::{AdditionalProperties, JsErrorClass, PropertyValue};

use crate::error::Error;

/// A core [`Error`] on its way to JavaScript.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct WasmOpError(#[from] pub Error);

/// Name of the extra property that carries the error's name (`"ExportNotFound"`). `name` itself cannot be used:
/// deno_core's builder does not overwrite properties an `Error` already has.
pub const NAME_PROPERTY: &str = "wasmErrorName";

impl JsErrorClass for WasmOpError {
    fn get_class(&self) -> Cow<'static, str> {
        Cow::Borrowed(deno_error::builtin_classes::GENERIC_ERROR)
    }

    fn get_message(&self) -> Cow<'static, str> {
        Cow::Owned(self.0.to_string())
    }

    fn get_additional_properties(&self) -> AdditionalProperties {
        let code = self.0.code();
        let (number, name) = (f64::from(code.as_u16()), Cow::Borrowed(code.name()));
        let properties = [
            ("code", PropertyValue::Number(number)),
            (NAME_PROPERTY, PropertyValue::String(name)),
        ];
        Box::new(properties.into_iter().map(|(key, value)| (Cow::Borrowed(key), value)))
    }

    fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
}
