//! The deno_core extension's shape and error conversion (feature `deno`). Compile-only here (linking needs V8,
//! which this CI cannot download): `DOCS_RS=1 cargo check --features deno --tests` type-checks them; an
//! embedder's CI with V8 runs them. Which ops exist, and their kinds, is checked at compile time in
//! `src/deno/mod.rs`.

use deno_error::{JsErrorClass, PropertyValue};
use ext_wasm::deno::{wasm_extension, WasmOpError, ENTRY_SPECIFIER, NAME_PROPERTY};
use ext_wasm::Error;

#[test]
fn extension_shape() {
    let ext = wasm_extension();
    assert_eq!(ext.name, "runtime_wasm");
    assert_eq!(ext.esm_entry_point, Some(ENTRY_SPECIFIER));
    let specifiers: Vec<&str> = ext.esm_files.iter().map(|f| f.specifier).collect();
    assert!(specifiers.contains(&ENTRY_SPECIFIER), "{specifiers:?}");
    assert!(
        specifiers.contains(&"ext:runtime_wasm/ops_backend.js"),
        "{specifiers:?}"
    );
    assert!(
        !specifiers.iter().any(|s| s.contains("ffi_backend")),
        "the Deno.dlopen backend is not bundled"
    );
    assert!(ext.ops.iter().any(|op| op.name == "op_wasm_call_sync"));
}

#[test]
fn errors_carry_code_and_name() {
    let e = WasmOpError(Error::ExportNotFound("no export named `nope`".into()));
    assert_eq!(e.get_class(), "Error");
    assert_eq!(e.get_message(), "[5003] export not found: no export named `nope`");
    let props: Vec<_> = e.get_additional_properties().collect();
    assert_eq!(props[0], ("code".into(), PropertyValue::Number(5003.0)));
    assert_eq!(
        props[1],
        (NAME_PROPERTY.into(), PropertyValue::String("ExportNotFound".into()))
    );
}
