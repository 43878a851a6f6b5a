//! [`RegisteredSigner`]: the transaction extension that makes the chain permissioned.
//!
//! Every signed extrinsic passes through it, in the pool (`validate`) and in the block (`prepare`):
//! - a signer that is not registered (see [`Pallet::standing`]) is refused with
//!   `InvalidTransaction::Custom(UNREGISTERED_SIGNER)`;
//! - an offboarded patient may sign only the calls of [`Config::RetainedRights`] (revoke, erase,
//!   ...); anything else is refused with `InvalidTransaction::Custom(OFFBOARDED_PATIENT)`;
//! - a registered signer may have at most [`Pallet::rate_limit`] extrinsics included per window
//!   (the runtime's [`Config::MaxExtrinsicsPerWindow`] per [`Config::RateWindowBlocks`] blocks until
//!   the consortium votes other figures with `set_rate_limit`). The window is charged when a block includes an
//!   extrinsic (`prepare`); one beyond it is left out of that block with
//!   `InvalidTransaction::ExhaustsResources`, which the block builder skips without reporting it
//!   to the pool, so it stays queued (with the signer's later nonces) until the next window.
//!   The pool never refuses or drops an extrinsic for the rate: anything invalid in `validate`
//!   would be banned on revalidation with every later nonce of its signer, and a "future" tag for
//!   the next window would park it where this pool release never revalidates it
//!   (docs/operator.md, "Transaction pool"). Instead `validate` gives each signer's extrinsics a
//!   priority that falls with what the signer used of the current window, as of that validation:
//!   once a block used up a signer's window, the rest of its queue goes last.

//! There are no fees: the rate limit is what keeps one registered account from filling blocks.
//! Unsigned extrinsics (inherents such as the timestamp) pass untouched; the runtime admits no
//! other unsigned call.

use crate::{Config, Pallet, RateWindow, RateWindowOf, Standing, WeightInfo};
use codec::{Decode, DecodeWithMemTracking, Encode};
use core::marker::PhantomData;
use frame_support::{
	dispatch::DispatchInfo,
	pallet_prelude::TransactionSource,
	traits::Contains,
};
use frame_system::pallet_prelude::BlockNumberFor;
use phr_primitives::tx_error::{OFFBOARDED_PATIENT, UNREGISTERED_SIGNER};
use scale_info::TypeInfo;
use sp_runtime::{
	traits::{
		AsSystemOriginSigner, DispatchInfoOf, Dispatchable, One, TransactionExtension, ValidateResult,
	},
	transaction_validity::{InvalidTransaction, TransactionPriority, TransactionValidityError, ValidTransaction},
	Saturating, Weight,
};

/// Refuses unregistered signers and rate-limits registered ones. Carries no data in the extrinsic.
#[derive(Encode, Decode, DecodeWithMemTracking, Clone, Eq, PartialEq, TypeInfo)]
#[scale_info(skip_type_params(T))]
pub struct RegisteredSigner<T>(PhantomData<T>);

impl<T> RegisteredSigner<T> {
	pub fn new() -> Self {
		Self(PhantomData)
	}
}

impl<T> Default for RegisteredSigner<T> {
	fn default() -> Self {
		Self::new()
	}
}

impl<T> core::fmt::Debug for RegisteredSigner<T> {
	fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
		write!(f, "RegisteredSigner")
	}
}

impl<T: Config> Pallet<T> {
	/// How many extrinsics `who` had included in the current window (which starts at the
	/// multiple of the window's length that `now` is in), and how many the window admits.
	fn used_in_window(who: &T::AccountId) -> (BlockNumberFor<T>, u32, u32) {
		let limit = Self::rate_limit();
		let now = frame_system::Pallet::<T>::block_number();
		// `set_rate_limit` and `integrity_test` keep the length positive.
		let start = now.saturating_sub(now % limit.window_blocks.max(One::one()));
		let used = RateWindowOf::<T>::get(who).filter(|w| w.start == start).map_or(0, |w| w.used);
		(start, used, limit.max_per_window)
	}

	/// The window to charge for `who`'s next extrinsic, or `ExhaustsResources` if it is used up:
	/// the block builder then leaves the extrinsic for a later block, and the pool keeps it.
	pub fn next_rate_window(
		who: &T::AccountId,
	) -> Result<RateWindow<BlockNumberFor<T>>, TransactionValidityError> {
		let (start, used, max) = Self::used_in_window(who);
		if used >= max {
			return Err(InvalidTransaction::ExhaustsResources.into());
		}
		Ok(RateWindow { start, used: used.saturating_add(1) })
	}

	/// Pool priority of `who`'s extrinsics: what is left of its window, so that a signer sending
	/// a flood yields to the others, and is last (0) once its window is used up.
	pub fn rate_priority(who: &T::AccountId) -> TransactionPriority {
		let (_, used, max) = Self::used_in_window(who);
		max.saturating_sub(used).into()
	}
}

impl<T: Config + Send + Sync> TransactionExtension<T::RuntimeCall> for RegisteredSigner<T>
where
	T::RuntimeCall: Dispatchable<Info = DispatchInfo>,
	<T::RuntimeCall as Dispatchable>::RuntimeOrigin: AsSystemOriginSigner<T::AccountId> + Clone,
{
	const IDENTIFIER: &'static str = "RegisteredSigner";
	type Implicit = ();
	/// The signer, when there is one.
	type Val = Option<T::AccountId>;
	type Pre = ();

	fn weight(&self, _call: &T::RuntimeCall) -> Weight {
		T::WeightInfo::registered_signer()
	}

	fn validate(
		&self,
		origin: <T::RuntimeCall as Dispatchable>::RuntimeOrigin,
		call: &T::RuntimeCall,
		_info: &DispatchInfoOf<T::RuntimeCall>,
		_len: usize,
		_self_implicit: (),
		_inherited_implication: &impl Encode,
		_source: TransactionSource,
	) -> ValidateResult<Self::Val, T::RuntimeCall> {
		let Some(who) = origin.as_system_origin_signer() else {
			return Ok((ValidTransaction::default(), None, origin));
		};
		match Pallet::<T>::standing(who) {
			Standing::Registered => {},
			Standing::RetainedRights if T::RetainedRights::contains(call) => {},
			Standing::RetainedRights => return Err(InvalidTransaction::Custom(OFFBOARDED_PATIENT).into()),
			Standing::Unregistered => return Err(InvalidTransaction::Custom(UNREGISTERED_SIGNER).into()),
		}
		// Never refused for the rate (see the module's documentation), and valid as long as the
		// pool likes: a transaction whose longevity ran out is stale, dropped and banned. The
		// window is checked when a block includes it (`prepare`).
		let validity = ValidTransaction { priority: Pallet::<T>::rate_priority(who), ..Default::default() };
		Ok((validity, Some(who.clone()), origin))
	}

	fn prepare(
		self,
		val: Self::Val,
		_origin: &<T::RuntimeCall as Dispatchable>::RuntimeOrigin,
		_call: &T::RuntimeCall,
		_info: &DispatchInfoOf<T::RuntimeCall>,
		_len: usize,
	) -> Result<Self::Pre, TransactionValidityError> {
		if let Some(who) = val {
			let window = Pallet::<T>::next_rate_window(&who)?;
			RateWindowOf::<T>::insert(&who, window);
		}
		Ok(())
	}
}
