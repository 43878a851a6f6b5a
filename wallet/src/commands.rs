//! What each subcommand does. Every command ends in a [`Report`]: one or more plain sentences, or
//! JSON with `--json`.

use std::{collections::HashMap, fs::File, io::BufReader, path::Path};

use phr_primitives::{
	receipts, AccountKeys, AttributePolicy, AuditEntry, BlobMethod, BlobSubject, Category, CategorySet, Conditions, Grant,
	GrantId, GrantTerms, Grantee, GuardianPowers, KeyRecord, PolicyHospitals, RecordId, RecordInfo, Rights,
	Role, RoleSet, RotationReason, Scope, StaffView, TimeWindow,
};
use codec::{Decode, DecodeAll, Encode};
use phr_rpc_api::{Bytes, ErrorCode, PhrApiClient};
use phr_runtime::{AccountId, BlockNumber, RuntimeCall, RuntimeEvent};
use serde_json::{json, Value};
use sp_core::crypto::Ss58Codec;
use zeroize::Zeroizing;

use crate::{
	blobs, escrow,
	client::{now_ms, to_hex, Finalized, Node},
	crypto::DataKey,
	error::{file_error, Result, WalletError},
	fhir, fhir_facts,
	keyfile::{self, Wallet},
	AdminCommand, Cli, Command, ConsentCommand, EmergencyCommand, GrantArgs, GuardianCommand, KeysCommand,
	RecordCommand,
};

pub type RecordOnChain = RecordInfo<AccountId, BlockNumber>;

/// What a command tells its user.
pub struct Report {
	pub text: String,
	pub json: Value,
}

impl Report {
	fn new(text: impl Into<String>, json: Value) -> Report {
		Report { text: text.into(), json }
	}
}

/// The passphrase: `PHR_PASSPHRASE`, or asked on the terminal (twice when creating).
fn passphrase(confirm: bool) -> Result<Zeroizing<String>> {
	if let Ok(value) = std::env::var("PHR_PASSPHRASE") {
		return Ok(Zeroizing::new(value));
	}
	let first = Zeroizing::new(
		rpassword::prompt_password("Wallet passphrase: ")
			.map_err(|e| WalletError::Usage(format!("cannot read the passphrase ({e}): set PHR_PASSPHRASE")))?,
	);
	if confirm {
		let second = Zeroizing::new(rpassword::prompt_password("Again: ")?);
		if *first != *second {
			return Err(WalletError::Usage("the two passphrases differ: try again".into()));
		}
	}
	Ok(first)
}

pub fn parse_account(text: &str) -> Result<AccountId> {
	if let Ok(account) = AccountId::from_ss58check(text) {
		return Ok(account);
	}
	if let Some(bytes) = text.strip_prefix("0x").and_then(|h| hex::decode(h).ok()).filter(|b| b.len() == 32) {
		return Ok(AccountId::new(bytes.try_into().expect("32 bytes")));
	}
	Err(WalletError::Usage(format!("'{text}' is not an account: give its SS58 address (5F...) or 0x-hex public key")))
}

/// `30m`, `1h`, `7d`, `90s` in milliseconds.
pub fn parse_duration(text: &str) -> Result<u64> {
	let bad = || WalletError::Usage(format!("'{text}' is not a duration: write e.g. 30m, 1h or 7d"));
	let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
	let number: u64 = number.parse().map_err(|_| bad())?;
	let unit_ms = match unit {
		"s" => 1_000,
		"m" => 60_000,
		"h" => 3_600_000,
		"d" => 86_400_000,
		_ => return Err(bad()),
	};
	number.checked_mul(unit_ms).filter(|ms| *ms > 0).ok_or_else(bad)
}

fn parse_category(name: &str) -> Result<Category> {
	Category::from_name(name).ok_or_else(|| {
		let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
		WalletError::Usage(format!("'{name}' is not a category: use one of {}", names.join(", ")))
	})
}

fn parse_categories(names: &[String]) -> Result<CategorySet> {
	if names.iter().any(|n| n == "all") {
		return Ok(CategorySet::all());
	}
	Ok(CategorySet::from_categories(&names.iter().map(|n| parse_category(n)).collect::<Result<Vec<_>>>()?))
}

fn parse_role(name: &str) -> Result<Role> {
	Role::from_name(name).ok_or_else(|| {
		let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
		WalletError::Usage(format!("'{name}' is not a role: use one of {}", names.join(", ")))
	})
}

fn bounded<T, S: frame_support::traits::Get<u32>>(values: Vec<T>, what: &str) -> Result<frame_support::BoundedVec<T, S>> {
	let max = S::get();
	values.try_into().map_err(|_| WalletError::Usage(format!("at most {max} {what}")))
}

fn attribute(text: &str) -> Result<phr_primitives::AttributeCode> {
	bounded(text.as_bytes().to_vec(), "bytes in an attribute")
}

fn parse_hours(text: &str) -> Result<TimeWindow> {
	let minute = |hhmm: &str| -> Option<u16> {
		let (h, m) = hhmm.split_once(':')?;
		let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
		(h < 24 && m < 60).then_some(h * 60 + m)
	};
	let (start, end) = text.split_once('-').ok_or_else(|| WalletError::Usage(format!("'{text}': write hours as 08:00-18:00")))?;
	match (minute(start), minute(end)) {
		(Some(start_minute), Some(end_minute)) => Ok(TimeWindow { start_minute, end_minute }),
		_ => Err(WalletError::Usage(format!("'{text}': write hours as 08:00-18:00 (UTC)"))),
	}
}

/// The chain's view, read at the finalized block with proofs this wallet checks (`verified`):
/// what the node says without proof is not used here.
struct Chain<'a> {
	node: &'a Node,
}

type Runtime = phr_runtime::Runtime;

impl Chain<'_> {
	fn record(&self, id: RecordId) -> Result<Option<RecordOnChain>> {
		self.node.proven()?.value(pallet_records::RecordOf::<Runtime>::hashed_key_for(id))
	}

	fn records_of(&self, patient: &AccountId) -> Result<Vec<(RecordId, RecordOnChain)>> {
		use pallet_records::{RecordCountOf, RecordOf, RecordsByPatient};
		let state = self.node.proven()?;
		let count: u32 = state.value(RecordCountOf::<Runtime>::hashed_key_for(patient))?.unwrap_or(0);
		state.prove(&(0..count).map(|i| RecordsByPatient::<Runtime>::hashed_key_for(patient, i)).collect::<Vec<_>>())?;
		let ids: Vec<RecordId> = state.run(|| (0..count).filter_map(|i| RecordsByPatient::<Runtime>::get(patient, i)).collect())?;
		state.prove(&ids.iter().map(RecordOf::<Runtime>::hashed_key_for).collect::<Vec<_>>())?;
		state.run(|| pallet_records::Pallet::<Runtime>::patient_records(patient, 0, count))
	}

	/// Every version of the record `id` belongs to, oldest first (empty when `id` is unknown).
	fn versions_of(&self, id: RecordId) -> Result<Vec<RecordId>> {
		let state = self.node.proven()?;
		let Some(record) = state.value::<RecordOnChain>(pallet_records::RecordOf::<Runtime>::hashed_key_for(id))? else {
			return Ok(Vec::new());
		};
		state.prove(&[pallet_records::VersionsOf::<Runtime>::hashed_key_for(record.root)])?;
		state.run(|| pallet_records::Pallet::<Runtime>::versions(id))
	}

	/// The first version of the record `id` is a version of (`id` itself when unknown).
	fn root_of(&self, id: RecordId) -> Result<RecordId> {
		Ok(self.versions_of(id)?.first().copied().unwrap_or(id))
	}

	/// The newest version of the record `id` is a version of (`id` itself when unknown).
	fn current_version(&self, id: RecordId) -> Result<RecordId> {
		Ok(self.versions_of(id)?.last().copied().unwrap_or(id))
	}

	fn current_key(&self, who: &AccountId) -> Result<Option<KeyRecord<BlockNumber>>> {
		self.node.proven()?.value(pallet_keys::KeyOf::<Runtime>::hashed_key_for(who))
	}

	fn grants_of(&self, patient: &AccountId) -> Result<Vec<(GrantId, Grant<AccountId, BlockNumber>)>> {
		use pallet_access::{GrantOf, GrantsByPatient};
		let state = self.node.proven()?;
		state.prove(&[GrantsByPatient::<Runtime>::hashed_key_for(patient)])?;
		let ids = state.run(|| GrantsByPatient::<Runtime>::get(patient))?;
		state.prove(&ids.iter().map(GrantOf::<Runtime>::hashed_key_for).collect::<Vec<_>>())?;
		state.run(|| pallet_access::Pallet::<Runtime>::grants_of(patient))
	}

	/// Live grants naming `who` as their one account, with their patients (every one: the list is
	/// proven complete).
	fn grants_to(&self, who: &AccountId) -> Result<Vec<(GrantId, AccountId)>> {
		let state = self.node.proven()?;
		use frame_support::{storage::StoragePrefixedMap, StorageHasher};
		let prefix = [pallet_access::GrantsToAccount::<Runtime>::final_prefix().to_vec(), frame_support::Blake2_128Concat::hash(&who.encode())].concat();
		state.prove_prefix(&prefix)?;
		state.run(|| pallet_access::Pallet::<Runtime>::grants_to(who))
	}

	/// `patient`'s whole audit trail, proven.
	fn audit_trail(&self, patient: &AccountId) -> Result<Vec<AuditEntry<AccountId, BlockNumber>>> {
		let state = self.node.proven()?;
		let length: u32 = state.value(pallet_access::AuditLength::<Runtime>::hashed_key_for(patient))?.unwrap_or(0);
		state.prove(&(0..length).map(|i| pallet_access::AuditTrail::<Runtime>::hashed_key_for(patient, i)).collect::<Vec<_>>())?;
		state.run(|| pallet_access::Pallet::<Runtime>::audit_trail(patient, 0, length))
	}

	/// Every staff member of a member hospital, with hospital, roles and attributes; proven
	/// complete, so that no one a role or policy grant names is left out.
	fn staff(&self) -> Result<Vec<(AccountId, StaffView)>> {
		use frame_support::storage::StoragePrefixedMap;
		use pallet_consortium::{HospitalOfAdmin, Members, StaffOf};
		let state = self.node.proven()?;
		state.prove_prefix(&StaffOf::<Runtime>::final_prefix())?;
		let listed: Vec<(AccountId, phr_primitives::HospitalId)> = state.run(|| StaffOf::<Runtime>::iter().map(|(who, staff)| (who, staff.hospital)).collect())?;
		let mut keys: Vec<Vec<u8>> = listed.iter().map(|(who, _)| HospitalOfAdmin::<Runtime>::hashed_key_for(who)).collect();
		keys.extend(listed.iter().map(|(_, hospital)| Members::<Runtime>::hashed_key_for(hospital)));
		keys.sort();
		keys.dedup();
		state.prove(&keys)?;
		state.run(|| pallet_consortium::Pallet::<Runtime>::staff_page(None, u32::MAX))
	}

	/// The accounts `grantee` names: the account itself, or the staff its role or policy matches.
	fn named(&self, grantee: &Grantee<AccountId>, staff: &[(AccountId, StaffView)]) -> Vec<AccountId> {
		match grantee {
			Grantee::Account(account) => vec![account.clone()],
			_ => staff.iter().filter(|(who, view)| grantee.names(who, Some(view))).map(|(who, _)| who.clone()).collect(),
		}
	}

	/// Who gets a record's data key besides its patient and author: everyone a live read grant of
	/// the patient (`grants`, read once for many records) covering the record names, among `staff`.
	/// Nobody else, and no emergency staff in advance: break-glass readers get the key from the
	/// member hospitals' escrow shares, released only once their opening is final (see `escrow`).
	fn readers_among(
		&self,
		grants: &[(GrantId, Grant<AccountId, BlockNumber>)],
		staff: &[(AccountId, StaffView)],
		category: Category,
		root: RecordId,
	) -> Vec<AccountId> {
		let now = now_ms();
		let mut readers: Vec<AccountId> = Vec::new();
		for (_, grant) in grants {
			let terms = &grant.terms;
			if terms.rights.contains(phr_primitives::Right::Read) && terms.expires_at > now && terms.scope.covers(category, root) {
				readers.extend(self.named(&terms.grantee, staff));
			}
		}
		readers
	}
}

fn event<T>(finalized: &Finalized, pick: impl Fn(&RuntimeEvent) -> Option<T>, what: &str) -> Result<T> {
	finalized
		.events
		.iter()
		.find_map(pick)
		.ok_or_else(|| WalletError::Corrupt(format!("the transaction is final but emitted no {what} event")))
}

/// The current encryption keys of the readers one command shares data keys with, each proven
/// once for the whole command rather than once per record. A reader who rotates keys meanwhile
/// only makes the node refuse the wraps made for the old key, which [`deliver`] reports like a
/// missing key.
struct ReaderKeys<'a> {
	chain: Chain<'a>,
	known: HashMap<AccountId, Option<KeyRecord<BlockNumber>>>,
}

impl<'a> ReaderKeys<'a> {
	fn new(node: &'a Node) -> ReaderKeys<'a> {
		ReaderKeys { chain: Chain { node }, known: HashMap::new() }
	}

	fn of(&mut self, who: &AccountId) -> Result<Option<&KeyRecord<BlockNumber>>> {
		if !self.known.contains_key(who) {
			let keys = self.chain.current_key(who)?;
			self.known.insert(who.clone(), keys);
		}
		Ok(self.known.get(who).and_then(Option::as_ref))
	}
}

/// Wraps `key` for each of `recipients` that registered keys; returns those that did not.
fn deliver(
	node: &Node,
	wallet: &Wallet,
	readers: &mut ReaderKeys,
	record: RecordId,
	data_epoch: u32,
	key: &DataKey,
	recipients: &[AccountId],
) -> Result<Vec<AccountId>> {
	let mut missing = Vec::new();
	let mut done: Vec<&AccountId> = Vec::new();
	for recipient in recipients {
		if done.contains(&recipient) {
			continue;
		}
		done.push(recipient);
		match readers.of(recipient)? {
			// One refusal (a recipient who rotated keys a moment ago) must not cost the others
			// their keys: report it and go on.
			Some(keys) => {
				if blobs::share_key(node, wallet, record, data_epoch, key, recipient, &keys.keys.encryption, keys.epoch).is_err() {
					missing.push(recipient.clone());
				}
			},
			None => missing.push(recipient.clone()),
		}
	}
	Ok(missing)
}

fn escrow_note(hospitals: &[phr_primitives::HospitalId]) -> String {
	if hospitals.is_empty() {
		return String::new();
	}
	format!(" Hospitals {hospitals:?} hold no break-glass share of these records (no escrow key registered, or their share was refused).")
}

fn missing_note(missing: &[AccountId]) -> String {
	if missing.is_empty() {
		return String::new();
	}
	let names: Vec<String> = missing.iter().map(|a| a.to_ss58check()).collect();
	format!(
		" Not shared with {} (no keys registered yet, or the node refused the key: run `phr grant` again once they ran `phr keys register`).",
		names.join(", ")
	)
}

pub fn run(cli: Cli) -> Result<()> {
	crate::verified::configure(cli.chain_spec.clone(), &cli.wallet, cli.max_head_age);
	crate::client::show_progress(cli.quiet);
	let report = dispatch(&cli)?;
	if cli.json {
		println!("{}", serde_json::to_string_pretty(&report.json).expect("JSON serializes"));
	} else {
		println!("{}", report.text);
	}
	Ok(())
}

fn open_wallet(cli: &Cli) -> Result<Wallet> {
	if !cli.wallet.exists() {
		return Err(WalletError::NoWallet(cli.wallet.display().to_string()));
	}
	Wallet::open(&cli.wallet, passphrase(false)?)
}

fn dispatch(cli: &Cli) -> Result<Report> {
	match &cli.command {
		Command::Keys(KeysCommand::New) => {
			let mnemonic = keyfile::new_mnemonic();
			let wallet = Wallet::create(&cli.wallet, &mnemonic, passphrase(true)?)?;
			let account = wallet.account().to_ss58check();
			Ok(Report::new(
				format!(
					"Created wallet {} for account {account}.\nWrite down this recovery phrase; it is shown only once:\n  {}\nNext: ask a hospital admin to onboard {account}, then run `phr keys register`.",
					cli.wallet.display(),
					*mnemonic
				),
				json!({ "account": account, "wallet": cli.wallet, "mnemonic": *mnemonic }),
			))
		},
		Command::Keys(KeysCommand::Import { secret }) => {
			let wallet = Wallet::create(&cli.wallet, secret, passphrase(true)?)?;
			let account = wallet.account().to_ss58check();
			Ok(Report::new(
				format!("Created wallet {} for account {account}.", cli.wallet.display()),
				json!({ "account": account, "wallet": cli.wallet }),
			))
		},
		Command::Keys(KeysCommand::Show) => keys_show(cli),
		Command::Keys(KeysCommand::Register) => {
			let wallet = open_wallet(cli)?;
			let node = Node::connect(&cli.node)?;
			let keys = wallet.public_keys()?;
			node.submit(&wallet, RuntimeCall::Keys(pallet_keys::Call::register_keys { keys: keys.clone() }))?;
			Ok(Report::new(
				format!("Registered the encryption and request keys of {} (epoch 0).", wallet.account().to_ss58check()),
				json!({ "account": wallet.account().to_ss58check(), "epoch": 0, "encryption": hex::encode(keys.encryption) }),
			))
		},
		Command::Keys(KeysCommand::Rotate) => keys_rotate(cli),
		Command::Record(RecordCommand::Add { file, category, patient }) => record_add(cli, file, category.as_deref(), patient.as_deref()),
		Command::Record(RecordCommand::Get { record, output, purpose }) => {
			let wallet = open_wallet(cli)?;
			let node = Node::connect(&cli.node)?;
			let fetched = blobs::fetch(&node, &wallet, *record, purpose, cli.quiet)?;
			let bytes = blobs::open_to_file(&fetched, output, cli.quiet)?;
			Ok(Report::new(
				format!("Record {record}: {bytes} bytes decrypted to {} (access: {}).{}", output.display(), fetched.basis, blobs::provenance(&fetched)),
				blobs::describe(*record, &fetched, bytes, output),
			))
		},
		Command::Record(RecordCommand::List { patient }) => record_list(cli, patient.as_deref()),
		Command::Record(RecordCommand::Erase { record }) => {
			let wallet = open_wallet(cli)?;
			let node = Node::connect(&cli.node)?;
			node.submit(&wallet, RuntimeCall::Records(pallet_records::Call::erase { record: *record }))?;
			Ok(Report::new(
				format!("Record {record} and all its versions are erased; every node purges the ciphertext."),
				json!({ "erased": record }),
			))
		},
		Command::Record(RecordCommand::Export { output, patient, bundle }) => record_export(cli, output, patient.as_deref(), *bundle),
		Command::Grant(args) => grant(cli, args),
		Command::Revoke { grant, no_rekey } => revoke(cli, *grant, !no_rekey),
		Command::Rekey { expired: true } => rekey_expired(cli),
		Command::Rekey { expired: false } => Err(WalletError::Usage("say what to re-key: --expired (the records keyed while a grant that has since expired was live)".into())),
		Command::Grants { patient, fhir } => grants(cli, patient.as_deref(), *fhir),
		Command::Guardian(GuardianCommand::Add { guardian, read, manage_grants }) => {
			let guardian = parse_account(guardian)?;
			let powers = GuardianPowers { read: *read, manage_grants: *manage_grants };
			if !powers.read && !powers.manage_grants {
				return Err(WalletError::Usage("give the guardian --read and/or --manage-grants".into()));
			}
			simple(cli, RuntimeCall::Access(pallet_access::Call::appoint_guardian { guardian: guardian.clone(), powers }), || {
				(format!("{} is now your guardian.", guardian.to_ss58check()), json!({ "guardian": guardian.to_ss58check() }))
			})
		},
		Command::Guardian(GuardianCommand::Remove { guardian, patient }) => {
			let guardian = parse_account(guardian)?;
			let wallet = open_wallet(cli)?;
			let patient = patient.as_deref().map(parse_account).transpose()?.unwrap_or_else(|| wallet.account());
			let node = Node::connect(&cli.node)?;
			node.submit(&wallet, RuntimeCall::Access(pallet_access::Call::remove_guardian { patient, guardian: guardian.clone() }))?;
			Ok(Report::new(format!("{} is no longer a guardian.", guardian.to_ss58check()), json!({ "removed": guardian.to_ss58check() })))
		},
		Command::Consent(ConsentCommand::Add { purpose, categories, expires }) => {
			let wallet = open_wallet(cli)?;
			let expires_at = now_ms() + parse_duration(expires)?;
			let call = RuntimeCall::Access(pallet_access::Call::give_consent {
				patient: wallet.account(),
				purpose: *purpose,
				categories: parse_categories(categories)?,
				expires_at,
			});
			Node::connect(&cli.node)?.submit(&wallet, call)?;
			Ok(Report::new(format!("Consent to research purpose {purpose} given until {expires_at} (unix ms)."), json!({ "purpose": purpose, "expiresAt": expires_at })))
		},
		Command::Consent(ConsentCommand::Remove { purpose }) => {
			let wallet = open_wallet(cli)?;
			let call = RuntimeCall::Access(pallet_access::Call::withdraw_consent { patient: wallet.account(), purpose: *purpose });
			Node::connect(&cli.node)?.submit(&wallet, call)?;
			Ok(Report::new(format!("Consent to research purpose {purpose} withdrawn."), json!({ "withdrawn": purpose })))
		},
		Command::Emergency(EmergencyCommand::Open { patient, reason, minutes }) => {
			let wallet = open_wallet(cli)?;
			let patient = parse_account(patient)?;
			let call = RuntimeCall::Access(pallet_access::Call::open_emergency {
				patient: patient.clone(),
				justification: sp_core::H256(sp_crypto_hashing::blake2_256(reason.as_bytes())),
				duration: minutes.saturating_mul(60_000),
			});
			let finalized = Node::connect(&cli.node)?.submit(&wallet, call)?;
			let id = event(&finalized, |e| match e {
				RuntimeEvent::Access(pallet_access::Event::EmergencyAccessOpened { emergency, .. }) => Some(*emergency),
				_ => None,
			}, "EmergencyAccessOpened")?;
			Ok(Report::new(
				format!("Break-glass access {id} to {}'s records is open for {minutes} minutes; the patient is notified and an auditor of another hospital will review it. Read with `--purpose emergency`: the member hospitals release the key to you once this opening is final, and every release is audited.", patient.to_ss58check()),
				json!({ "emergency": id, "patient": patient.to_ss58check(), "minutes": minutes }),
			))
		},
		Command::Emergency(EmergencyCommand::Review { emergency }) =>
			simple(cli, RuntimeCall::Access(pallet_access::Call::review_emergency { emergency: *emergency }), || {
				(format!("Break-glass access {emergency} marked reviewed."), json!({ "reviewed": emergency }))
			}),
		Command::Audit { patient, nodes, fhir } => audit(cli, patient, nodes, *fhir),
		Command::Admin(command) => admin(cli, command),
		Command::Portal { dir, listen, nodes } => {
			let nodes = if nodes.is_empty() { vec![cli.node.clone()] } else { nodes.clone() };
			crate::portal::serve(dir, *listen, crate::portal::parse_nodes(&nodes)?, &crate::verified::trusted_anchor()?)?;
			unreachable!("the portal serves until it is stopped")
		},
	}
}

/// Submits one call and reports `done()`.
fn simple(cli: &Cli, call: RuntimeCall, done: impl FnOnce() -> (String, Value)) -> Result<Report> {
	let wallet = open_wallet(cli)?;
	Node::connect(&cli.node)?.submit(&wallet, call)?;
	let (text, json) = done();
	Ok(Report::new(text, json))
}

fn keys_show(cli: &Cli) -> Result<Report> {
	let wallet = open_wallet(cli)?;
	let keys = wallet.public_keys()?;
	let account = wallet.account();
	let on_chain = Node::connect(&cli.node).and_then(|node| Chain { node: &node }.current_key(&account));
	let (chain_text, chain_json) = match &on_chain {
		Ok(Some(record)) if record.keys == keys => (format!("registered on chain at epoch {}", record.epoch), json!({ "epoch": record.epoch, "matches": true })),
		Ok(Some(record)) => (format!("the chain has other keys (epoch {}): this wallet is out of date", record.epoch), json!({ "epoch": record.epoch, "matches": false })),
		Ok(None) => ("not registered on chain: run `phr keys register`".to_string(), Value::Null),
		Err(error) => (format!("chain not reachable: {error}"), Value::Null),
	};
	Ok(Report::new(
		format!(
			"Account:        {}\nEncryption key: {} (X25519)\nRequest key:    {} (ed25519)\nOn chain:       {chain_text}",
			account.to_ss58check(),
			hex::encode(keys.encryption),
			hex::encode(keys.request_signing)
		),
		json!({ "account": account.to_ss58check(), "encryption": hex::encode(keys.encryption), "requestSigning": hex::encode(keys.request_signing), "onChain": chain_json }),
	))
}

fn keys_rotate(cli: &Cli) -> Result<Report> {
	let mut wallet = open_wallet(cli)?;
	let node = Node::connect(&cli.node)?;
	let chain = Chain { node: &node };
	let account = wallet.account();
	let current = chain.current_key(&account)?.ok_or_else(|| WalletError::Usage("no keys on chain yet: run `phr keys register` first".into()))?;
	// The old keys stay in the wallet; the new ones are saved before the chain knows them, so a
	// crash in between never loses a key the chain has.
	let backup = std::fs::read(&cli.wallet).map_err(file_error(&cli.wallet))?;
	wallet.rotate(current.epoch + 1);
	wallet.save()?;
	let keys: AccountKeys = wallet.public_keys()?;
	let finalized = match node.submit(&wallet, RuntimeCall::Keys(pallet_keys::Call::rotate_keys { keys })) {
		Ok(finalized) => finalized,
		Err(error) => {
			crate::files::write_private(&cli.wallet, &backup)?;
			return Err(error);
		},
	};
	let epoch = event(&finalized, |e| match e {
		RuntimeEvent::Keys(pallet_keys::Event::KeysRotated { epoch, .. }) => Some(*epoch),
		_ => None,
	}, "KeysRotated")?;
	wallet.set_current_epoch(epoch);
	wallet.save()?;
	// Re-wrap the data keys of this account's records for the new key.
	let mut rewrapped = 0;
	let mut readers = ReaderKeys::new(&node);
	for (record, info) in chain.records_of(&account)? {
		if info.is_erased() || info.status != phr_primitives::RecordStatus::Current {
			continue;
		}
		let (key, data_epoch) = blobs::fetch_key(&node, &wallet, record)?;
		deliver(&node, &wallet, &mut readers, record, data_epoch, &key, std::slice::from_ref(&account))?;
		rewrapped += 1;
	}
	Ok(Report::new(
		format!("Keys rotated to epoch {epoch}; the data keys of {rewrapped} records are wrapped for the new key."),
		json!({ "epoch": epoch, "rewrapped": rewrapped }),
	))
}

fn record_add(cli: &Cli, file: &Path, category: Option<&str>, patient: Option<&str>) -> Result<Report> {
	let wallet = open_wallet(cli)?;
	let node = Node::connect(&cli.node)?;
	let chain = Chain { node: &node };
	let author = wallet.account();
	let patient = patient.map(parse_account).transpose()?.unwrap_or_else(|| author.clone());
	let len = std::fs::metadata(file).map_err(file_error(file))?.len();
	let forced = category.map(parse_category).transpose()?;

	// A FHIR Bundle (small enough to parse) becomes one record per resource, plus its manifest.
	let bundle_bytes = if forced.is_none() && len <= 64 * 1024 * 1024 { Some(std::fs::read(file).map_err(file_error(file))?) } else { None };
	let resources = match &bundle_bytes {
		Some(bytes) => fhir::split_bundle(bytes)?,
		None => None,
	};
	let mut added = Vec::new();
	let mut missing = Vec::new();
	let mut no_escrow = Vec::new();
	// Who gets each new record's data key: read once (proven) for all the records added.
	let grants = chain.grants_of(&patient)?;
	let staff = chain.staff()?;
	let agents = escrow::agents(&node)?;
	let mut reader_keys = ReaderKeys::new(&node);
	let mut share = |record: RecordId, category: Category, key: &DataKey| -> Result<()> {
		let mut readers = vec![patient.clone(), author.clone()];
		readers.extend(chain.readers_among(&grants, &staff, category, record));
		missing.extend(deliver(&node, &wallet, &mut reader_keys, record, 0, key, &readers)?);
		no_escrow.extend(escrow::escrow_key_to(&node, &wallet, record, 0, key, &agents)?);
		Ok(())
	};
	let register = |sealed: &blobs::Sealed, category: Category| {
		RuntimeCall::Records(pallet_records::Call::register {
			patient: patient.clone(),
			ciphertext_hash: sealed.hash,
			size: sealed.size,
			category,
		})
	};
	let registered = |finalized: &Finalized| {
		event(finalized, |e| match e {
			RuntimeEvent::Records(pallet_records::Event::RecordRegistered { record, .. }) => Some(*record),
			_ => None,
		}, "RecordRegistered")
	};
	match resources {
		Some(resources) => {
			let value: Value = serde_json::from_slice(bundle_bytes.as_deref().unwrap_or_default()).unwrap_or_default();
			let kind = value["type"].as_str().unwrap_or_default();
			if !fhir::BUNDLE_TYPES.contains(&kind) {
				return Err(WalletError::Usage(format!("a '{kind}' Bundle is not a record set: add transaction, batch, collection or document Bundles")));
			}
			fhir::check_bundle(&value).map_err(|e| WalletError::Usage(format!("the Bundle is not valid FHIR R4 ({e}): fix it")))?;
			// Sealed and uploaded one by one, registered all at once (one wait for finality), then
			// the manifest; one progress bar for the whole Bundle.
			let bar = blobs::steps(resources.len() as u64 * 2 + 2, "adding the Bundle", cli.quiet);
			let mut sealed = Vec::with_capacity(resources.len());
			for resource in &resources {
				let one = blobs::seal(&mut &resource.json[..], resource.json.len() as u64, true)?;
				blobs::upload(&node, &wallet, &one, true)?;
				bar.inc(1);
				sealed.push(one);
			}
			let calls = sealed.iter().zip(&resources).map(|(one, resource)| register(one, resource.category)).collect();
			let mut done = 0;
			let outcomes = node.submit_all(&wallet, calls, |final_now| {
				bar.inc((final_now - done) as u64);
				done = final_now;
			})?;
			let ids = outcomes.iter().map(registered).collect::<Result<Vec<RecordId>>>()?;
			for ((record, one), resource) in ids.iter().zip(&sealed).zip(&resources) {
				share(*record, resource.category, &one.key)?;
				added.push(json!({ "record": record, "category": resource.category.as_str(), "size": one.size, "source": resource.resource_type }));
			}
			let manifest = serde_json::to_vec(&fhir::manifest(bundle_bytes.as_deref().unwrap_or_default(), &ids)?).expect("JSON serializes");
			let one = blobs::seal(&mut &manifest[..], manifest.len() as u64, true)?;
			blobs::upload(&node, &wallet, &one, true)?;
			let record = registered(&node.submit(&wallet, register(&one, Category::Other))?)?;
			share(record, Category::Other, &one.key)?;
			bar.finish_and_clear();
			added.push(json!({ "record": record, "category": Category::Other.as_str(), "size": one.size, "source": "Bundle manifest", "manifest": true }));
		},
		None => {
			let category = match forced {
				Some(category) => category,
				None => bundle_bytes.as_deref().map(fhir::category_of_file).unwrap_or(Category::Other),
			};
			let mut input = BufReader::new(File::open(file).map_err(file_error(file))?);
			let sealed = blobs::seal(&mut input, len, cli.quiet)?;
			blobs::upload(&node, &wallet, &sealed, cli.quiet)?;
			let record = registered(&node.submit(&wallet, register(&sealed, category))?)?;
			share(record, category, &sealed.key)?;
			added.push(json!({ "record": record, "category": category.as_str(), "size": sealed.size, "source": file.display().to_string() }));
		},
	}
	missing.dedup();
	no_escrow.sort();
	no_escrow.dedup();
	let lines: Vec<String> = added
		.iter()
		.map(|a| format!("record {} ({}, {} bytes of ciphertext, from {})", a["record"], a["category"].as_str().unwrap_or(""), a["size"], a["source"].as_str().unwrap_or("")))
		.collect();
	Ok(Report::new(
		format!(
			"Added {} record(s) for {}: {}.{}{}",
			added.len(),
			patient.to_ss58check(),
			lines.join("; "),
			missing_note(&missing),
			escrow_note(&no_escrow)
		),
		json!({ "patient": patient.to_ss58check(), "records": added }),
	))
}

/// The account given, or the wallet's own (read without the passphrase).
fn patient_or_own(cli: &Cli, patient: Option<&str>) -> Result<AccountId> {
	match patient {
		Some(p) => parse_account(p),
		None => parse_account(&Wallet::account_of(&cli.wallet)?),
	}
}

fn record_list(cli: &Cli, patient: Option<&str>) -> Result<Report> {
	let node = Node::connect(&cli.node)?;
	let patient = patient_or_own(cli, patient)?;
	let records = Chain { node: &node }.records_of(&patient)?;
	let rows: Vec<Value> = records
		.iter()
		.map(|(id, r)| {
			json!({
				"record": id, "category": r.category.as_str(), "size": r.size, "version": r.version,
				"keyEpoch": r.key_epoch, "status": format!("{:?}", r.status), "author": r.author.to_ss58check(),
				"registeredAt": r.registered_at,
			})
		})
		.collect();
	let text = if rows.is_empty() {
		format!("{} has no records.", patient.to_ss58check())
	} else {
		let mut text = format!("{:>6}  {:<12} {:>10}  {:>3}  {:>5}  status", "record", "category", "bytes", "ver", "epoch");
		for (id, r) in &records {
			text.push_str(&format!("\n{id:>6}  {:<12} {:>10}  {:>3}  {:>5}  {:?}", r.category.as_str(), r.size, r.version, r.key_epoch, r.status));
		}
		text
	};
	Ok(Report::new(text, json!({ "patient": patient.to_ss58check(), "records": rows })))
}

fn record_export(cli: &Cli, output: &Path, patient: Option<&str>, bundle: Option<RecordId>) -> Result<Report> {
	let wallet = open_wallet(cli)?;
	let node = Node::connect(&cli.node)?;
	let chain = Chain { node: &node };
	let patient = patient.map(parse_account).transpose()?.unwrap_or_else(|| wallet.account());
	let read = |id: RecordId| -> Result<Value> {
		let fetched = blobs::fetch(&node, &wallet, id, "treatment", true)?;
		serde_json::from_slice(&blobs::open_to_vec(&fetched)?).map_err(|e| WalletError::Corrupt(format!("record {id} is not JSON: {e}")))
	};
	if let Some(id) = bundle {
		// The Bundle a manifest was made from, each entry at its newest version.
		let manifest = read(chain.current_version(id)?)?;
		if !fhir::is_manifest(&manifest) {
			return Err(WalletError::Usage(format!("record {id} is not a Bundle's manifest: see `phr record list` (source \"Bundle manifest\")")));
		}
		let mut resources = std::collections::BTreeMap::new();
		for (record, _) in fhir::manifest_entries(&manifest) {
			let Some(record) = record else { continue };
			let outcome = chain.current_version(record).and_then(read).map_err(|e| e.to_string());
			resources.insert(record, outcome);
		}
		let (rebuilt, unresolved) = fhir::rebuild(&manifest, &resources);
		crate::files::write_private(output, &serde_json::to_vec_pretty(&rebuilt).expect("JSON serializes"))?;
		let entries = rebuilt["entry"].as_array().map(Vec::len).unwrap_or(0);
		// Left-out entries can break a Bundle's own rules (a document without its Composition).
		let invalid = fhir::check_bundle(&rebuilt).err();
		let left_out: Vec<Value> = unresolved
			.iter()
			.map(|u| json!({ "fullUrl": u.full_url, "record": u.record, "reason": u.reason, "referencedBy": u.referenced_by }))
			.collect();
		let mut text = format!(
			"Exported the {} Bundle of record {id}: {entries} entries to {}.",
			rebuilt["type"].as_str().unwrap_or("?"),
			output.display()
		);
		for u in &unresolved {
			text.push_str(&format!(
				"\n  left out {} (record {:?}): {}; {} reference(s) to it now dangle",
				u.full_url.as_deref().unwrap_or("an entry"),
				u.record,
				u.reason,
				u.referenced_by.len()
			));
		}
		if let Some(reason) = &invalid {
			text.push_str(&format!("\n  the Bundle written is not valid R4 without them: {reason}"));
		}
		return Ok(Report::new(
			text,
			json!({ "resources": entries, "output": output, "type": rebuilt["type"], "unresolved": left_out, "invalid": invalid }),
		));
	}
	// Every FHIR resource of the patient, with the fullUrl its Bundle gave it.
	let mut resources = Vec::new();
	let mut full_urls = std::collections::BTreeMap::new();
	for (id, info) in chain.records_of(&patient)? {
		if info.is_erased() || info.status != phr_primitives::RecordStatus::Current {
			continue;
		}
		let Ok(value) = read(id) else { continue };
		if fhir::is_manifest(&value) {
			for (record, url) in fhir::manifest_entries(&value) {
				if let (Some(record), Some(url)) = (record, url) {
					full_urls.insert(record, url);
				}
			}
		} else if value.get("resourceType").is_some() {
			resources.push((id, info.root, serde_json::to_vec(&value).expect("JSON serializes")));
		}
	}
	let entries: Vec<(Option<String>, Vec<u8>)> =
		resources.into_iter().map(|(id, root, json)| (full_urls.get(&root).or_else(|| full_urls.get(&id)).cloned(), json)).collect();
	let bundle = fhir::bundle(&entries)?;
	crate::files::write_private(output, &serde_json::to_vec_pretty(&bundle).expect("JSON serializes"))?;
	Ok(Report::new(
		format!("Exported {} FHIR resources to {} as a collection Bundle.", entries.len(), output.display()),
		json!({ "resources": entries.len(), "output": output }),
	))
}

fn grant(cli: &Cli, args: &GrantArgs) -> Result<Report> {
	let wallet = open_wallet(cli)?;
	let node = Node::connect(&cli.node)?;
	let chain = Chain { node: &node };
	let patient = args.patient.as_deref().map(parse_account).transpose()?.unwrap_or_else(|| wallet.account());
	let grantee = if let Some(to) = &args.to {
		Grantee::Account(parse_account(to)?)
	} else if let (Some(hospital), Some(role)) = (args.hospital, &args.role) {
		Grantee::HospitalRole { hospital, role: parse_role(role)? }
	} else if !args.policy_roles.is_empty() || !args.policy_departments.is_empty() || !args.policy_facilities.is_empty() {
		let roles = args.policy_roles.iter().map(|r| parse_role(r)).collect::<Result<Vec<_>>>()?;
		let hospitals = if args.consortium_wide {
			confirm_consortium_wide(args.yes)?;
			PolicyHospitals::ConsortiumWide
		} else if args.policy_hospitals.is_empty() {
			return Err(WalletError::Usage(
				"say whose staff the policy admits: --policy-hospitals <ids> (each hospital's admin assigns its staff's \
				 roles and attributes), or --consortium-wide for staff of every member hospital"
					.into(),
			));
		} else {
			PolicyHospitals::Only(bounded(args.policy_hospitals.clone(), "hospitals")?)
		};
		Grantee::Policy(AttributePolicy {
			roles: RoleSet::from_roles(&roles),
			hospitals,
			departments: bounded(args.policy_departments.iter().map(|d| attribute(d)).collect::<Result<_>>()?, "departments")?,
			facilities: bounded(args.policy_facilities.iter().map(|f| attribute(f)).collect::<Result<_>>()?, "facilities")?,
		})
	} else {
		return Err(WalletError::Usage("say whom to grant: --to <account>, --hospital <id> --role <role>, or --policy-roles/--policy-departments/--policy-facilities".into()));
	};
	let mut rights = Rights::default();
	for right in &args.rights {
		rights = Rights(rights.0 | match right.as_str() {
			"read" => Rights::READ.0,
			"append" => Rights::APPEND.0,
			other => return Err(WalletError::Usage(format!("'{other}' is not a right: use read and/or append"))),
		});
	}
	let scope = Scope { categories: parse_categories(&args.categories)?, records: bounded(args.records.clone(), "records in a scope")? };
	if scope.is_empty() {
		return Err(WalletError::Usage("say what the grant covers: --categories <list|all> and/or --records <ids>".into()));
	}
	let conditions = Conditions {
		time_window: args.hours.as_deref().map(parse_hours).transpose()?,
		facility: args.facility.as_deref().map(attribute).transpose()?,
	};
	let expires_at = now_ms() + parse_duration(&args.expires)?;
	let terms = GrantTerms { grantee: grantee.clone(), scope: scope.clone(), rights, expires_at, conditions };
	let call = if args.relayed {
		if patient != wallet.account() {
			return Err(WalletError::Usage("a relayed grant is signed by its patient: --relayed cannot be used with --patient".into()));
		}
		let item = node.sign_relayed_grant(&wallet, terms)?;
		pallet_access::Call::grant_batch { items: bounded(vec![item], "signed grants in a batch")? }
	} else {
		pallet_access::Call::grant { patient: patient.clone(), terms }
	};
	// What the key delivery below relies on is verified BEFORE the grant is sent: a node that lies
	// about a recipient's key or the staff list is caught while nothing has happened yet.
	let named = match &grantee {
		Grantee::Account(account) => vec![account.clone()],
		_ => chain.named(&grantee, &chain.staff()?),
	};
	for who in &named {
		chain.current_key(who)?;
	}
	let finalized = node.submit(&wallet, RuntimeCall::Access(call))?;
	if let Some(error) = finalized.events.iter().find_map(|e| match e {
		RuntimeEvent::Access(pallet_access::Event::RelayedGrantFailed { error, .. }) => Some(*error),
		_ => None,
	}) {
		return Err(WalletError::Dispatch(crate::client::dispatch_error_name(&error)));
	}
	let id = event(&finalized, |e| match e {
		RuntimeEvent::Access(pallet_access::Event::AccessGranted { grant, .. }) => Some(*grant),
		_ => None,
	}, "AccessGranted")?;

	// Everyone the grant names (the person, or the staff its role or policy matches now) gets the
	// data keys of the records in scope.
	let mut shared = 0;
	let mut missing = Vec::new();
	if rights.contains(phr_primitives::Right::Read) {
		let readers = chain.named(&grantee, &chain.staff()?);
		let mut reader_keys = ReaderKeys::new(&node);
		for (record, info) in chain.records_of(&patient)? {
			if readers.is_empty() || info.is_erased() || !scope.covers(info.category, chain.root_of(record)?) {
				continue;
			}
			let (key, data_epoch) = blobs::fetch_key(&node, &wallet, record)?;
			missing.extend(deliver(&node, &wallet, &mut reader_keys, record, data_epoch, &key, &readers)?);
			shared += 1;
		}
	}
	missing.dedup();
	let whom = match &grantee {
		Grantee::Account(a) => a.to_ss58check(),
		Grantee::HospitalRole { hospital, role } => format!("every {} at hospital {hospital}", role.as_str()),
		Grantee::Policy(policy) => match &policy.hospitals {
			PolicyHospitals::Only(hospitals) => format!("staff matching the policy at hospitals {:?}", hospitals.to_vec()),
			PolicyHospitals::ConsortiumWide => "staff matching the policy at EVERY member hospital".into(),
		},
	};
	Ok(Report::new(
		format!("Grant {id}: {whom} may {} until {expires_at} (unix ms); data keys of {shared} records shared.{}", args.rights.join(" and "), missing_note(&missing)),
		json!({ "grant": id, "grantee": whom, "expiresAt": expires_at, "sharedRecords": shared }),
	))
}

/// A consortium-wide policy admits staff whose attributes any member's admin alone assigns: the
/// patient confirms it knowingly (`--yes`, or "yes" on the terminal).
fn confirm_consortium_wide(yes: bool) -> Result<()> {
	if yes {
		return Ok(());
	}
	eprintln!(
		"A consortium-wide policy admits matching staff of EVERY member hospital, present and future; each\n\
		 hospital's admin alone decides who holds which role, department and facility there."
	);
	eprint!("Type yes to grant it anyway: ");
	let mut answer = String::new();
	std::io::stdin().read_line(&mut answer)?;
	if answer.trim() == "yes" {
		Ok(())
	} else {
		Err(WalletError::Usage("not granted: name the hospitals with --policy-hospitals, or confirm with --yes".into()))
	}
}

fn revoke(cli: &Cli, id: GrantId, rekey: bool) -> Result<Report> {
	let wallet = open_wallet(cli)?;
	let node = Node::connect(&cli.node)?;
	let chain = Chain { node: &node };
	let me = wallet.account();
	// Find the grant among the patient's (the caller's, or a patient the caller guards).
	let grants_to = chain.grants_to(&me)?;
	let patient = grants_to.iter().find(|(g, _)| *g == id).map(|(_, p)| p.clone()).unwrap_or_else(|| me.clone());
	let grant = chain
		.grants_of(&patient)?
		.into_iter()
		.find(|(g, _)| *g == id)
		.map(|(_, grant)| grant)
		.ok_or_else(|| WalletError::Usage(format!("grant {id} is not one of {}'s live grants (see `phr grants`)", patient.to_ss58check())))?;
	node.submit(&wallet, RuntimeCall::Access(pallet_access::Call::revoke { grant: id }))?;
	if !rekey {
		return Ok(Report::new(format!("Grant {id} revoked; data keys unchanged."), json!({ "revoked": id, "rekeyed": [] })));
	}
	// Re-key: every version of every record the grant covered (superseded ones too: the revoked
	// reader may hold their keys as well) gets a new data key and a new ciphertext, wrapped for the
	// patient and the readers that remain.
	let covered: Vec<(RecordId, RecordOnChain)> = chain
		.records_of(&patient)?
		.into_iter()
		.filter(|(_, info)| !info.is_erased() && grant.terms.scope.covers(info.category, info.root))
		.collect();
	let (rekeyed, missing) = rekey_records(cli, &node, &wallet, &patient, covered, RotationReason::Revocation)?;
	Ok(Report::new(
		format!(
			"Grant {id} revoked; {} record version(s) re-encrypted under new data keys ({:?}), shared with the remaining readers only.{}",
			rekeyed.len(),
			rekeyed,
			missing_note(&missing)
		),
		json!({ "revoked": id, "rekeyed": rekeyed }),
	))
}

/// Re-keys `records` of `patient`: each fetched and resealed under a new data key, uploaded, the
/// rotations sent at once (one wait for finality), then each new key wrapped for the patient, the
/// caller and the readers live grants name, and escrowed. Returns the records re-keyed and the
/// readers who could not be given their key.
fn rekey_records(
	cli: &Cli,
	node: &Node,
	wallet: &Wallet,
	patient: &AccountId,
	records: Vec<(RecordId, RecordOnChain)>,
	reason: RotationReason,
) -> Result<(Vec<RecordId>, Vec<AccountId>)> {
	if records.is_empty() {
		return Ok((Vec::new(), Vec::new()));
	}
	let chain = Chain { node };
	let bar = blobs::steps(records.len() as u64 * 2, "re-keying", cli.quiet);
	let mut sealed = Vec::with_capacity(records.len());
	for (record, _) in &records {
		let fetched = blobs::fetch(node, wallet, *record, "treatment", true)?;
		let one = blobs::reseal(&fetched, true)?;
		blobs::upload(node, wallet, &one, true)?;
		bar.inc(1);
		sealed.push(one);
	}
	let calls = records
		.iter()
		.zip(&sealed)
		.map(|((record, _), one)| {
			RuntimeCall::Keys(pallet_keys::Call::rotate_data_key { record: *record, ciphertext_hash: one.hash, size: one.size, reason })
		})
		.collect();
	let mut done = 0;
	let outcomes = node.submit_all(wallet, calls, |final_now| {
		bar.inc((final_now - done) as u64);
		done = final_now;
	})?;
	let grants = chain.grants_of(patient)?;
	let staff = chain.staff()?;
	let agents = escrow::agents(node)?;
	let me = wallet.account();
	let (mut rekeyed, mut missing) = (Vec::new(), Vec::new());
	let mut reader_keys = ReaderKeys::new(node);
	for (((record, info), one), finalized) in records.iter().zip(&sealed).zip(&outcomes) {
		let epoch = event(finalized, |e| match e {
			RuntimeEvent::Keys(pallet_keys::Event::DataKeyRotated { epoch, .. }) => Some(*epoch),
			_ => None,
		}, "DataKeyRotated")?;
		let mut readers = vec![patient.clone(), me.clone()];
		readers.extend(chain.readers_among(&grants, &staff, info.category, info.root));
		missing.extend(deliver(node, wallet, &mut reader_keys, *record, epoch, &one.key, &readers)?);
		escrow::escrow_key_to(node, wallet, *record, epoch, &one.key, &agents)?;
		rekeyed.push(*record);
	}
	bar.finish_and_clear();
	missing.sort();
	missing.dedup();
	Ok((rekeyed, missing))
}

/// `phr rekey --expired`: the keys a grant's reader held stay useful after the grant simply
/// expires (nothing re-keys then). The chain records each expiry in the patient's trail
/// (`GrantExpired`, once it dropped the grant); every record version whose data key was set before
/// the latest expiry is re-keyed (the dropped grant's terms are gone from state, so which records
/// it covered is not known: all that were keyed while it lived are re-keyed).
fn rekey_expired(cli: &Cli) -> Result<Report> {
	let wallet = open_wallet(cli)?;
	let node = Node::connect(&cli.node)?;
	let chain = Chain { node: &node };
	let patient = wallet.account();
	let latest_expiry = chain
		.audit_trail(&patient)?
		.iter()
		.filter(|entry| matches!(entry.action, phr_primitives::AuditAction::GrantExpired { .. }))
		.map(|entry| entry.at)
		.max();
	let pending: Vec<GrantId> =
		chain.grants_of(&patient)?.into_iter().filter(|(_, g)| g.terms.expires_at <= now_ms()).map(|(id, _)| id).collect();
	let pending_note = if pending.is_empty() {
		String::new()
	} else {
		format!(" Grant(s) {pending:?} expired but the chain has not dropped them yet: run this again once it has (it sweeps every block).")
	};
	let Some(expiry) = latest_expiry else {
		return Ok(Report::new(format!("No grant of yours has expired: nothing to re-key.{pending_note}"), json!({ "rekeyed": [], "pending": pending })));
	};
	let stale: Vec<(RecordId, RecordOnChain)> =
		chain.records_of(&patient)?.into_iter().filter(|(_, info)| !info.is_erased() && info.key_set_at < expiry).collect();
	let (rekeyed, missing) = rekey_records(cli, &node, &wallet, &patient, stale, RotationReason::Manual)?;
	Ok(Report::new(
		format!(
			"{} record version(s) keyed before a grant expired (block {expiry}) re-encrypted under new data keys ({:?}).{}{pending_note}",
			rekeyed.len(),
			rekeyed,
			missing_note(&missing)
		),
		json!({ "rekeyed": rekeyed, "expiredAt": expiry, "pending": pending }),
	))
}

/// A FHIR Bundle as a command's answer, printed as JSON with or without `--json`.
fn fhir_report(bundle: Value) -> Report {
	Report::new(serde_json::to_string_pretty(&bundle).expect("JSON serializes"), bundle)
}

fn grants(cli: &Cli, patient: Option<&str>, fhir: bool) -> Result<Report> {
	let node = Node::connect(&cli.node)?;
	let patient = patient_or_own(cli, patient)?;
	let grants = Chain { node: &node }.grants_of(&patient)?;
	if fhir {
		let now = now_ms();
		let consents: Vec<Value> = grants.iter().map(|(id, grant)| fhir_facts::consent(*id, grant, now)).collect();
		for consent in &consents {
			fhir_facts::check_consent(consent).map_err(|e| WalletError::Corrupt(format!("a Consent this wallet made is not valid R4: {e}")))?;
		}
		return Ok(fhir_report(fhir_facts::collection(consents)));
	}
	let rows: Vec<Value> = grants
		.iter()
		.map(|(id, g)| {
			let grantee = match &g.terms.grantee {
				Grantee::Account(a) => a.to_ss58check(),
				Grantee::HospitalRole { hospital, role } => format!("{} at hospital {hospital}", role.as_str()),
				Grantee::Policy(p) => format!("policy {p:?}"),
			};
			// The chain drops expired grants lazily (docs/architecture.md, "Expired grants").
			let expired = g.terms.expires_at <= now_ms();
			json!({ "grant": id, "grantee": grantee, "rights": g.terms.rights.0, "expiresAt": g.terms.expires_at, "expired": expired,
				"categories": g.terms.scope.categories.0, "records": g.terms.scope.records.to_vec(), "grantedBy": g.granted_by.to_ss58check() })
		})
		.collect();
	let live = rows.iter().filter(|r| r["expired"] == false).count();
	let mut text = format!("{live} live grant(s) on {}'s records", patient.to_ss58check());
	for row in &rows {
		let state = if row["expired"] == true { "expired at" } else { "until" };
		text.push_str(&format!("\n  grant {}: {} {state} {}", row["grant"], row["grantee"].as_str().unwrap_or(""), row["expiresAt"]));
	}
	Ok(Report::new(text, json!({ "patient": patient.to_ss58check(), "grants": rows })))
}

fn audit(cli: &Cli, patient: &str, nodes: &[String], fhir: bool) -> Result<Report> {
	let patient = parse_account(patient)?;
	let node = Node::connect(&cli.node)?;
	let trail = Chain { node: &node }.audit_trail(&patient)?;
	let state = node.proven()?;
	// Read receipts: every anchored batch, from whichever node served it, each receipt verified
	// against the root and count the chain holds; those about this patient's records are listed.
	let mut others: Vec<Node> = Vec::new();
	for url in nodes {
		others.push(Node::connect(url)?);
	}
	let sources: Vec<&Node> = if others.is_empty() { vec![&node] } else { others.iter().collect() };
	let mut reads = Vec::new();
	let (mut verified, mut failed, mut unavailable) = (0u32, 0u32, Vec::new());
	let mut batch_id = 0u64;
	let chain = Chain { node: &node };
	let mut owner_of = std::collections::BTreeMap::<RecordId, Option<AccountId>>::new();
	// Receipts go to the patient, a guardian with the read power, an auditor or a member's admin:
	// this wallet signs the request (for each node it asks) with its own request key.
	let wallet = open_wallet(cli)?;
	let genesis = node.genesis()?;
	let batch_count: u64 = state.value(pallet_access::NextBatchId::<Runtime>::hashed_key().to_vec())?.unwrap_or(0);
	state.prove(&(0..batch_count).map(pallet_access::ReceiptBatchOfId::<Runtime>::hashed_key_for).collect::<Vec<_>>())?;
	while let Some(batch) = state.run(|| pallet_access::ReceiptBatchOfId::<Runtime>::get(batch_id))?.filter(|_| batch_id < batch_count) {
		let mut answer = None;
		let mut refusal = None;
		for source in &sources {
			let request = source.request(&wallet, BlobMethod::Receipts { batch: batch_id }, BlobSubject::Patient(patient.clone()))?;
			match source.wait("phr_receiptBatch", source.phr().receipt_batch(Bytes(request.encode()), batch_id)) {
				Ok(found) => {
					answer = Some(found);
					break;
				},
				Err(error) if error.phr_code() == Some(ErrorCode::Forbidden) => refusal = Some(error),
				Err(_) => {},
			}
		}
		if let Some(error) = refusal.filter(|_| answer.is_none()) {
			return Err(error);
		}
		let Some(answer) = answer else {
			unavailable.push(batch_id);
			batch_id += 1;
			continue;
		};
		if answer.count != batch.count {
			failed += 1;
		}
		let receipts = answer.receipts.iter().map(|r| blobs::decode_receipt(&r.0)).collect::<Result<Vec<_>>>()?;
		for (index, (receipt, proof)) in receipts.iter().enumerate() {
			// Anchored under the chain's root, AND really signed by its reader for this chain: an
			// anchoring node cannot pass off a receipt it made up.
			let ok = receipts::verify_receipt(&batch.root, batch.count, receipt, proof) &&
				receipt.request.verify_signature().is_ok() &&
				receipt.request.request.genesis == genesis;
			if ok { verified += 1 } else { failed += 1 }
			let BlobSubject::Record(record) = receipt.request.request.subject else { continue };
			let owner = match owner_of.get(&record) {
				Some(owner) => owner.clone(),
				None => {
					let owner = chain.record(record)?.map(|r| r.patient);
					owner_of.insert(record, owner.clone());
					owner
				},
			};
			if owner.as_ref() == Some(&patient) {
				reads.push(json!({ "batch": batch_id, "hospital": batch.hospital, "anchoredAt": batch.anchored_at,
					"reader": receipt.request.request.account.to_ss58check(), "record": record,
					"basis": format!("{:?}", receipt.basis), "verified": ok, "index": index,
					"requestExpiresAt": receipt.request.request.expires_at_ms }));
			}
		}
		batch_id += 1;
	}
	if fhir {
		let now = now_ms();
		let mut events: Vec<Value> = trail.iter().enumerate().map(|(i, entry)| fhir_facts::trail_event(&patient, i, entry, now)).collect();
		events.extend(reads.iter().map(|read| fhir_facts::read_event(read, now)));
		for event in &events {
			fhir_facts::check_audit_event(event).map_err(|e| WalletError::Corrupt(format!("an AuditEvent this wallet made is not valid R4: {e}")))?;
		}
		return Ok(fhir_report(fhir_facts::collection(events)));
	}
	let entries: Vec<Value> = trail
		.iter()
		.map(|e| json!({ "block": e.at, "actor": e.actor.to_ss58check(), "action": format!("{:?}", e.action) }))
		.collect();
	let mut text = format!("Audit trail of {} ({} entries):", patient.to_ss58check(), entries.len());
	for e in &entries {
		text.push_str(&format!("\n  block {:>6}  {}  {}", e["block"], e["actor"].as_str().unwrap_or(""), e["action"].as_str().unwrap_or("")));
	}
	text.push_str(&format!("\nReads ({}, from {} anchored batches; {verified} receipts verified, {failed} failed):", reads.len(), batch_id));
	for r in &reads {
		text.push_str(&format!("\n  record {} read by {} as {} (batch {}, hospital {}, {})", r["record"], r["reader"].as_str().unwrap_or(""), r["basis"].as_str().unwrap_or(""), r["batch"], r["hospital"], if r["verified"] == true { "verified" } else { "NOT VERIFIED" }));
	}
	if !unavailable.is_empty() {
		text.push_str(&format!("\nBatches {unavailable:?} were not available from the nodes asked: add their hospitals' nodes with --nodes."));
	}
	Ok(Report::new(
		text,
		json!({ "patient": patient.to_ss58check(), "trail": entries, "reads": reads, "receiptsVerified": verified, "receiptsFailed": failed, "batchesUnavailable": unavailable }),
	))
}

fn admin(cli: &Cli, command: &AdminCommand) -> Result<Report> {
	use pallet_consortium::{Call, ConsortiumAction};
	match command {
		AdminCommand::ApplyUpgrade { wasm } => return apply_upgrade(cli, wasm),
		AdminCommand::Approve { proposal } => return approve(cli, *proposal),
		AdminCommand::SessionKeys => return session_keys(cli),
		_ => {},
	}
	let (call, text, json) = match command {
		AdminCommand::Onboard { patient } => {
			let patient = parse_account(patient)?;
			let text = format!("{} is onboarded as a patient of your hospital.", patient.to_ss58check());
			(Call::onboard_patient { patient: patient.clone() }, text, json!({ "patient": patient.to_ss58check() }))
		},
		AdminCommand::Offboard { patient } => {
			let patient = parse_account(patient)?;
			let text = format!(
				"{} is offboarded: it keeps its records and may still revoke, withdraw consent and erase.",
				patient.to_ss58check()
			);
			(Call::offboard_patient { patient: patient.clone() }, text, json!({ "offboarded": patient.to_ss58check() }))
		},
		AdminCommand::Staff { account, roles, department, facility } => {
			let who = parse_account(account)?;
			let roles = roles.iter().map(|r| parse_role(r)).collect::<Result<Vec<_>>>()?;
			let text = format!("{} is registered as {} staff.", who.to_ss58check(), roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("+"));
			let call = Call::register_staff { who: who.clone(), roles: RoleSet::from_roles(&roles), department: attribute(department)?, facility: attribute(facility)? };
			(call, text, json!({ "staff": who.to_ss58check() }))
		},
		AdminCommand::ProposeValidator { hospital, validator, peer_id } => {
			let action = ConsortiumAction::ChangeValidator {
				hospital: *hospital,
				validator: parse_account(validator)?,
				node: bounded(parse_peer_id(peer_id)?, "bytes of peer id")?,
			};
			let text = format!("Proposed a new validator for hospital {hospital}; the other members must approve.");
			(Call::propose { action }, text, json!({ "proposedValidator": hospital }))
		},
		AdminCommand::ProposeUpgrade { wasm } => {
			let blob = crate::upgrade::RuntimeBlob::read(wasm)?;
			let node = Node::connect(&cli.node)?;
			blob.check_against(&node.runtime_version()?)?;
			let text = format!(
				"Proposed upgrading the runtime to {} version {} (blake2-256 {}); once the members approve, anyone enacts it with `phr admin apply-upgrade`.",
				blob.version.spec_name,
				blob.version.spec_version,
				to_hex(&blob.code_hash)
			);
			let json = json!({ "proposedUpgrade": to_hex(&blob.code_hash), "specVersion": blob.version.spec_version });
			(Call::propose { action: ConsortiumAction::AuthorizeUpgrade { code_hash: blob.code_hash } }, text, json)
		},
		AdminCommand::ApplyUpgrade { .. } | AdminCommand::Approve { .. } | AdminCommand::SessionKeys =>
			unreachable!("handled above"),
		AdminCommand::ProposeMember { hospital, admin, validator, peer_id } => {
			let node = parse_peer_id(peer_id)?;
			let action = ConsortiumAction::AddMember {
				hospital: *hospital,
				admins: bounded(vec![parse_account(admin)?], "admins")?,
				validator: parse_account(validator)?,
				node: bounded(node, "bytes of peer id")?,
			};
			(Call::propose { action }, format!("Proposed hospital {hospital} as a member; the other members must approve."), json!({ "proposedMember": hospital }))
		},
		AdminCommand::ProposeRateLimit { max, window } => {
			let call = RuntimeCall::Consortium(Call::set_rate_limit { max_per_window: *max, window_blocks: *window });
			let text = format!(
				"Proposed a rate window of {max} extrinsics per account per {window} blocks; in force once the members approve."
			);
			(Call::propose { action: dispatch_action(&call)? }, text, json!({ "proposedRateLimit": { "max": max, "window": window } }))
		},
		AdminCommand::ProposeCall { call } => {
			let bytes = crate::client::from_hex(call)?;
			let decoded = RuntimeCall::decode_all(&mut &bytes[..]).map_err(|e| {
				WalletError::Usage(format!("'{call}' is not a call of this runtime ({e})"))
			})?;
			let text = format!("Proposed dispatching {decoded:?} with the consortium's origin; carried out once the members approve.");
			(Call::propose { action: dispatch_action(&decoded)? }, text, json!({ "proposedCall": to_hex(&bytes) }))
		},
		AdminCommand::ProposeRemoval { hospital } => (
			Call::propose { action: ConsortiumAction::RemoveMember { hospital: *hospital } },
			format!("Proposed removing hospital {hospital}; the other members must approve."),
			json!({ "proposedRemoval": hospital }),
		),
	};
	let wallet = open_wallet(cli)?;
	let finalized = Node::connect(&cli.node)?.submit(&wallet, RuntimeCall::Consortium(call))?;
	let proposed = finalized.events.iter().find_map(|e| match e {
		RuntimeEvent::Consortium(pallet_consortium::Event::Proposed { proposal, .. }) => Some(*proposal),
		_ => None,
	});
	let executed = finalized.events.iter().any(|e| matches!(e, RuntimeEvent::Consortium(pallet_consortium::Event::Executed { .. })));
	let mut report = Report::new(text, json);
	if let Some(proposal) = proposed {
		report.json["proposal"] = json!(proposal);
		report.json["executed"] = json!(executed);
		report.text.push_str(&format!(" Proposal {proposal}: each other member approves with `phr admin approve {proposal}`."));
	}
	Ok(report)
}

/// A proposal to dispatch `call` with the consortium's origin.
fn dispatch_action(call: &RuntimeCall) -> Result<pallet_consortium::ActionOf<phr_runtime::Runtime>> {
	Ok(pallet_consortium::ConsortiumAction::Dispatch { call: bounded(call.encode(), "bytes in a proposed call")? })
}

fn parse_peer_id(peer_id: &str) -> Result<Vec<u8>> {
	bs58::decode(peer_id).into_vec().map_err(|_| WalletError::Usage(format!("'{peer_id}' is not a peer id (12D3KooW...)")))
}

/// Approves a proposal and says what came of it: still waiting, carried out, or passed but failed.
fn approve(cli: &Cli, proposal: u32) -> Result<Report> {
	use pallet_consortium::Event;
	let wallet = open_wallet(cli)?;
	let call = RuntimeCall::Consortium(pallet_consortium::Call::approve { proposal });
	let finalized = Node::connect(&cli.node)?.submit(&wallet, call)?;
	let mut tally = None;
	for event in &finalized.events {
		match event {
			RuntimeEvent::Consortium(Event::Executed { result: Ok(()), .. }) => {
				let text = format!("Approved proposal {proposal}: it passed and was carried out.");
				return Ok(Report::new(text, json!({ "approved": proposal, "executed": true })));
			},
			RuntimeEvent::Consortium(Event::Executed { result: Err(error), .. }) => {
				let name = crate::client::dispatch_error_name(error);
				let text = format!("Approved proposal {proposal}: it passed but could not be carried out ({name}); it was removed.");
				return Ok(Report::new(text, json!({ "approved": proposal, "executed": false, "error": name })));
			},
			RuntimeEvent::Consortium(Event::Approved { approvals, needed, .. }) => tally = Some((*approvals, *needed)),
			_ => {},
		}
	}
	let (approvals, needed) = tally.unwrap_or_default();
	Ok(Report::new(
		format!("Approved proposal {proposal}: {approvals} of the {needed} approvals it needs."),
		json!({ "approved": proposal, "executed": false, "approvals": approvals, "needed": needed }),
	))
}

/// New session keys from the validator's own node, registered on chain for this wallet's account.
fn session_keys(cli: &Cli) -> Result<Report> {
	let wallet = open_wallet(cli)?;
	let node = Node::connect(&cli.node)?;
	let owner = wallet.account();
	let generated: Value = node.call("author_rotateKeysWithOwner", vec![Value::from(to_hex(&owner.encode()))])?;
	let field = |name: &str| {
		generated[name].as_str().ok_or_else(|| {
			WalletError::Corrupt(format!("the node's new session keys come without {name}: update the node"))
		})
	};
	let encoded = crate::client::from_hex(field("keys")?)?;
	let proof = crate::client::from_hex(field("proof")?)?;
	let keys = phr_runtime::SessionKeys::decode(&mut &encoded[..])
		.map_err(|e| WalletError::Corrupt(format!("the node's session keys do not decode ({e}): update the wallet")))?;
	let (aura, grandpa) = (hex::encode(keys.aura.as_ref() as &[u8]), hex::encode(keys.grandpa.as_ref() as &[u8]));
	node.submit(&wallet, RuntimeCall::Session(pallet_session::Call::set_keys { keys, proof }))?;
	Ok(Report::new(
		format!(
			"New session keys of {} are on chain (Aura {aura}, GRANDPA {grandpa}); the node holds them. They are in force from the session after next (sessions last 10 blocks).",
			owner.to_ss58check()
		),
		json!({ "validator": owner.to_ss58check(), "aura": aura, "grandpa": grandpa }),
	))
}

/// Submits an authorized runtime blob and waits until the chain runs it.
fn apply_upgrade(cli: &Cli, wasm: &std::path::Path) -> Result<Report> {
	let blob = crate::upgrade::RuntimeBlob::read(wasm)?;
	let node = Node::connect(&cli.node)?;
	blob.check_against(&node.runtime_version()?)?;
	// Asked first: the pool bans an extrinsic it refused (for 30 minutes), so the blob is not sent
	// before the vote has passed.
	let authorized = node.authorized_upgrade()?;
	if authorized != Some(blob.code_hash.into()) {
		let now = authorized.map_or("nothing".to_string(), |hash| format!("{hash:?}"));
		return Err(WalletError::Usage(format!(
			"the chain has not authorized this blob (it authorizes {now}): a proposal `phr admin propose-upgrade` with it must pass first"
		)));
	}
	let call = RuntimeCall::System(frame_system::Call::apply_authorized_upgrade { code: blob.code.clone() });
	let finalized = match node.submit_unsigned(call.clone()) {
		// Someone sent the same blob unsigned before it was authorized, and the pool still bans
		// that extrinsic: the same call signed by this wallet's account is another extrinsic.
		Err(WalletError::Rpc { code: 1012, .. }) => node.submit(&open_wallet(cli)?, call)?,
		other => other?,
	};
	let rejected = finalized.events.iter().any(|e| {
		matches!(e, RuntimeEvent::System(frame_system::Event::RejectedInvalidAuthorizedUpgrade { .. }))
	});
	if rejected {
		return Err(WalletError::Dispatch("the chain rejected the blob's version; the authorization is spent, propose again".into()));
	}
	let enacted = finalized.events.iter().any(|e| matches!(e, RuntimeEvent::System(frame_system::Event::CodeUpdated { .. })));
	if !enacted {
		return Err(WalletError::Dispatch("the blob was included but the chain did not update its code".into()));
	}
	Ok(Report::new(
		format!(
			"The chain now runs {} version {} (final); its migrations ran in the same block.",
			blob.version.spec_name, blob.version.spec_version
		),
		json!({ "specVersion": blob.version.spec_version, "codeHash": to_hex(&blob.code_hash) }),
	))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn durations_hours_and_accounts_parse_or_explain() {
		assert_eq!(parse_duration("90s").unwrap(), 90_000);
		assert_eq!(parse_duration("1h").unwrap(), 3_600_000);
		assert_eq!(parse_duration("7d").unwrap(), 604_800_000);
		for bad in ["", "h", "1y", "0m", "-1h"] {
			assert!(parse_duration(bad).is_err(), "{bad}");
		}
		assert_eq!(parse_hours("08:00-18:30").unwrap(), TimeWindow { start_minute: 480, end_minute: 1110 });
		assert!(parse_hours("8-18").is_err());
		let alice = sp_keyring::Sr25519Keyring::Alice.to_account_id();
		assert_eq!(parse_account(&alice.to_ss58check()).unwrap(), alice);
		assert!(parse_account("bob").unwrap_err().to_string().contains("SS58"));
		assert_eq!(parse_categories(&["all".into()]).unwrap(), CategorySet::all());
		assert!(parse_category("xray").unwrap_err().to_string().contains("imaging"));
	}
}
