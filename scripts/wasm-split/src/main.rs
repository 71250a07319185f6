//! `rarity-wasm-split <input.wasm> <pkg dir> <main out.wasm> <js name>` (or `--version`)
//!
//! Splits the linked front end (built with `--emit-relocs`) at its `#[lazy]` split points:
//! writes the main module to `<main out.wasm>` (for wasm-bindgen), every chunk
//! (`split_*.wasm`, `chunk_*.wasm`) and the chunk loader `__wasm_split.______________________.js`
//! into `<pkg dir>`, plus `__wasm_split_manifest.json` (split name → the files it needs), which the
//! server reads to preload the chunks of the page it renders. `<js name>` is wasm-bindgen's output
//! name: the loader imports `initSync` from `./<js name>.js`. Prints one line per chunk.

use std::path::Path;
use std::process::ExitCode;

/// The loader's file name Leptos' `HydrationScripts` links to (unhashed builds).
const LINK_NAME: &str = "./__wasm_split.______________________.js";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--version") {
        println!("rarity-wasm-split {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let [input, pkg, main_out, js_name] = args.as_slice() else {
        eprintln!("usage: rarity-wasm-split <input.wasm> <pkg dir> <main out.wasm> <js name>");
        return ExitCode::from(2);
    };
    match run(
        Path::new(input),
        Path::new(pkg),
        Path::new(main_out),
        js_name,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rarity-wasm-split: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    input: &Path,
    pkg: &Path,
    main_out: &Path,
    js_name: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let wasm = std::fs::read(input).map_err(|e| format!("reading {}: {e}", input.display()))?;
    std::fs::create_dir_all(pkg)?;
    let main_module = format!("./{js_name}.js");
    let split = wasm_split_cli_support::transform({
        let mut opts = wasm_split_cli_support::Options::new(&wasm);
        opts.output_dir = pkg;
        opts.main_out_path = main_out;
        opts.main_module = &main_module;
        opts.link_name = LINK_NAME;
        opts
    })
    .map_err(|e| format!("{e:?}"))?;
    let manifest = serde_json::to_string_pretty(&split.prefetch_map)?;
    std::fs::write(pkg.join("__wasm_split_manifest.json"), manifest)?;
    for chunk in &split.split_modules {
        println!("{}", chunk.display());
    }
    Ok(())
}
