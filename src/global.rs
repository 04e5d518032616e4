//! Globals of an instance: read and set exported globals by name (`getGlobal` / `setGlobal`).

use wasmtime::{Extern, Global, Mutability};

use crate::error::{Error, Result};
use crate::instance::InstanceState;
use crate::value::{ValType, Value};

impl InstanceState {
    /// Exported global `name` of the selected instance and its value type: 5003 when there is no such
    /// global, 5007 when its type cannot cross the API (v128, references).
    fn global(&mut self, name: &str) -> Result<(Global, ValType)> {
        let global = match self.selected().get_export(&mut self.store, name) {
            Some(Extern::Global(g)) => g,
            Some(other) => {
                let kind = match other {
                    Extern::Func(_) => "function",
                    Extern::Table(_) => "table",
                    _ => "memory",
                };
                return Err(Error::ExportNotFound(format!("`{name}` is a {kind}, not a global")));
            }
            None => return Err(Error::ExportNotFound(format!("no export named `{name}`"))),
        };
        let ty = ValType::from_wasmtime(global.ty(&self.store).content());
        if !ty.is_numeric() {
            return Err(Error::Type(format!(
                "global `{name}` holds a {ty}; only i32, i64, f32 and f64 globals can cross this API"
            )));
        }
        Ok((global, ty))
    }

    /// The value of exported global `name` (typed by the global: i64 stays exact).
    pub(crate) fn get_global(&mut self, name: &str) -> Result<Value> {
        let (global, _) = self.global(name)?;
        Ok(Value::from_val(&global.get(&mut self.store)))
    }

    /// Set exported global `name`, converting `value` by the global's type as call arguments are converted
    /// by parameter types (5007 when it does not fit, or when the global is immutable).
    pub(crate) fn set_global(&mut self, name: &str, value: Value) -> Result<()> {
        let (global, ty) = self.global(name)?;
        if global.ty(&self.store).mutability() == Mutability::Const {
            return Err(Error::Type(format!("global `{name}` is immutable")));
        }
        let val = value.to_val(ty, 0).map_err(|e| {
            let detail = e.message().strip_prefix("argument 0: ").unwrap_or(e.message());
            Error::Type(format!("global `{name}`: {detail}"))
        })?;
        global
            .set(&mut self.store, val)
            .map_err(|e| Error::Type(format!("global `{name}`: {e:#}")))
    }
}
