//! [`RegisteredSigner`]: the transaction extension that makes the chain permissioned.
//!
//! Every signed extrinsic passes through it, in the pool (`validate`) and in the block (`prepare`):
//! - a signer that is not registered (see [`Pallet::is_registered`]) is refused with
//!   `InvalidTransaction::Custom(UNREGISTERED_SIGNER)`;
//! - a registered signer may have at most [`Config::MaxExtrinsicsPerWindow`] extrinsics included per
//!   window of [`Config::RateWindowBlocks`] blocks; beyond that the pool refuses with
//!   `InvalidTransaction::Custom(RATE_LIMITED)` until the next window. What the pool accepted
//!   stays valid across windows (no shortened longevity: the pool would drop and ban it as stale);
//!   the window is charged when a block includes it.
//!
//! There are no fees: the rate limit is what keeps one registered account from filling blocks.
//! Unsigned extrinsics (inherents such as the timestamp) pass untouched; the runtime admits no
//! other unsigned call.

use crate::{Config, Pallet, RateWindow, RateWindowOf, WeightInfo};
use codec::{Decode, DecodeWithMemTracking, Encode};
use core::marker::PhantomData;
use frame_support::{dispatch::DispatchInfo, pallet_prelude::TransactionSource, traits::Get};
use frame_system::pallet_prelude::BlockNumberFor;
use phr_primitives::tx_error::{RATE_LIMITED, UNREGISTERED_SIGNER};
use scale_info::TypeInfo;
use sp_runtime::{
	traits::{
		AsSystemOriginSigner, DispatchInfoOf, Dispatchable, TransactionExtension, ValidateResult,
	},
	transaction_validity::{InvalidTransaction, TransactionValidityError, ValidTransaction},
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
	/// First block of the rate window that `now` falls in.
	fn window_start(now: BlockNumberFor<T>) -> BlockNumberFor<T> {
		let length = T::RateWindowBlocks::get();
		now.saturating_sub(now % length)
	}

	/// The window to charge for `who`'s next extrinsic, or `RATE_LIMITED` if it is used up.
	pub fn next_rate_window(
		who: &T::AccountId,
	) -> Result<RateWindow<BlockNumberFor<T>>, TransactionValidityError> {
		let start = Self::window_start(frame_system::Pallet::<T>::block_number());
		let used = RateWindowOf::<T>::get(who).filter(|w| w.start == start).map_or(0, |w| w.used);
		if used >= T::MaxExtrinsicsPerWindow::get() {
			return Err(InvalidTransaction::Custom(RATE_LIMITED).into());
		}
		Ok(RateWindow { start, used: used.saturating_add(1) })
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
		_call: &T::RuntimeCall,
		_info: &DispatchInfoOf<T::RuntimeCall>,
		_len: usize,
		_self_implicit: (),
		_inherited_implication: &impl Encode,
		_source: TransactionSource,
	) -> ValidateResult<Self::Val, T::RuntimeCall> {
		let Some(who) = origin.as_system_origin_signer() else {
			return Ok((ValidTransaction::default(), None, origin));
		};
		if !Pallet::<T>::is_registered(who) {
			return Err(InvalidTransaction::Custom(UNREGISTERED_SIGNER).into());
		}
		Pallet::<T>::next_rate_window(who)?;
		// The validity does not end with the rate window: the pool treats a transaction whose
		// longevity ran out as stale, drops it and bans its hash (a resubmission is refused for
		// the ban's duration). An accepted transaction that waits in a long queue must stay until
		// a block has room; the window is checked again when it is included (`prepare`).
		let who = who.clone();
		Ok((ValidTransaction::default(), Some(who), origin))
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
