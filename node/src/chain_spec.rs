//! Chain specifications: built from the runtime's genesis presets, or read from a JSON file.

use phr_runtime::{
	genesis_config_presets::{DEPLOYMENT_TEMPLATE_PRESET, LOCAL_CONSORTIUM_PRESET},
	WASM_BINARY,
};
use sc_service::ChainType;
use sp_genesis_builder::DEV_RUNTIME_PRESET;

pub type ChainSpec = sc_service::GenericChainSpec;

/// The chain names `--chain` accepts besides a path to a JSON file.
pub const KNOWN_CHAINS: &str = "dev, local-consortium (or local), deployment-template";

fn wasm() -> Result<&'static [u8], String> {
	WASM_BINARY.ok_or_else(|| "this phr-node was built without its WASM runtime (SKIP_WASM_BUILD)".to_string())
}

fn from_preset(name: &str, id: &str, preset: &str, chain_type: ChainType) -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm()?, None)
		.with_name(name)
		.with_id(id)
		.with_protocol_id("phr")
		.with_chain_type(chain_type)
		.with_genesis_config_preset_name(preset)
		.with_properties(properties())
		.build())
}

fn properties() -> sc_service::Properties {
	let mut properties = sc_service::Properties::new();
	properties.insert("ss58Format".into(), 42.into());
	// No token: the chain has no fees. Wallets still expect the keys.
	properties.insert("tokenSymbol".into(), "NONE".into());
	properties.insert("tokenDecimals".into(), 0.into());
	properties
}

/// The chain spec for `--chain <id>`.
pub fn load(id: &str) -> Result<Box<dyn sc_service::ChainSpec>, String> {
	Ok(Box::new(match id {
		"dev" => from_preset("PHR Development", "phr_dev", DEV_RUNTIME_PRESET, ChainType::Development)?,
		"local" | "local-consortium" =>
			from_preset("PHR Local Consortium", "phr_local", LOCAL_CONSORTIUM_PRESET, ChainType::Local)?,
		"deployment-template" =>
			from_preset("PHR Consortium", "phr", DEPLOYMENT_TEMPLATE_PRESET, ChainType::Live)?,
		"" => return Err(format!("no chain given: pass --chain with one of {KNOWN_CHAINS}, or a chain spec file")),
		path => {
			let file = std::path::Path::new(path);
			if !file.exists() {
				return Err(format!(
					"unknown chain '{path}': it is neither one of {KNOWN_CHAINS} nor an existing chain spec file"
				));
			}
			ChainSpec::from_json_file(file.to_path_buf())
				.map_err(|e| format!("chain spec file '{path}' is not a valid chain spec: {}", one_line(&e)))?
		},
	}))
}

fn one_line(text: &str) -> String {
	text.split_whitespace().collect::<Vec<_>>().join(" ")
}
