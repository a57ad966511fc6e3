// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title Pays healthcare providers for approved insurance claims, in batches.
/// @notice The claims engine adjudicates claims off chain; this contract only moves the
/// stablecoin it holds to providers' wallets, and refuses, on its own, to pay any claim
/// twice. It is the last line of defence for "a provider is paid for an approved claim
/// exactly once": even if the engine crashes between sending a batch and recording it, or
/// re-sends a batch, no payout leaves this contract a second time.
/// @dev No health data ever reaches this contract. A payout is named by an opaque 32-byte
/// reference chosen at random off chain; the chain learns the provider's wallet and the
/// amount, never the member, the diagnosis, the procedure or the claim's identifier.
/// The contract holds a working float only (topped up from treasury), so a compromised
/// settler key can lose at most the float.
contract ClaimsSettlement is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The engine's hot key: it may settle batches and do nothing else. Granting,
    /// revoking and treasury operations stay with DEFAULT_ADMIN_ROLE (a multisig in
    /// production), so a leaked settler key cannot change who may settle.
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    /// @notice The 6-decimal stablecoin providers are paid in. Immutable: a payout's
    /// amount only means something in the token the engine priced it in.
    IERC20 public immutable token;

    /// @notice One claim's payout: an opaque reference (never a claim or member id), the
    /// provider's wallet and the amount in token base units.
    struct Payout {
        bytes32 payoutReference;
        address provider;
        uint256 amount;
    }

    /// @dev Every reference ever paid. Checked and set per payout, so a claim can never be
    /// paid twice, whichever batch carries it.
    mapping(bytes32 payoutReference => bool paid) private _paid;

    /// @dev Every batch ever settled, so a re-sent transaction is refused as a whole with
    /// a clear error rather than failing on its first payout.
    mapping(bytes32 batch => bool settled) private _settledBatches;

    /// @notice A provider was paid for one claim. Indexed by reference, provider and batch
    /// so that the engine can reconcile its event log against the chain by any of them.
    event PayoutPaid(bytes32 indexed payoutReference, address indexed provider, uint256 amount, bytes32 indexed batch);

    /// @notice A batch was settled: how many payouts it made and their total, which the
    /// engine checks against the sum it computed off chain.
    event BatchSettled(bytes32 indexed batch, uint256 payouts, uint256 total);

    /// @notice A batch must pay at least one claim; an empty one is a bug in the caller.
    error EmptyBatch();
    /// @notice This batch was already settled: the transaction was sent twice.
    error BatchAlreadySettled(bytes32 batch);
    /// @notice This claim was already paid (in this or an earlier batch): paying again
    /// would pay twice. The engine treats it as "already settled" and reconciles.
    error PayoutAlreadyPaid(bytes32 payoutReference);
    /// @notice The payout names no provider: the tokens would be lost.
    error ZeroProvider(bytes32 payoutReference);
    /// @notice The payout is for nothing: an approved claim that pays nothing is not sent.
    error ZeroAmount(bytes32 payoutReference);
    /// @notice The constructor needs a token, an admin and a settler.
    error ZeroAddress();

    /// @param token_ The stablecoin payouts are made in.
    /// @param admin Holds DEFAULT_ADMIN_ROLE: may grant and revoke roles.
    /// @param settler Holds SETTLER_ROLE: the engine's key, which may only settle.
    constructor(IERC20 token_, address admin, address settler) {
        if (address(token_) == address(0) || admin == address(0) || settler == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SETTLER_ROLE, settler);
    }

    /// @notice Pays every payout of a batch to its provider, or none of them.
    /// @dev All-or-nothing: any refused payout reverts the whole batch, so the engine
    /// never has to work out which half of a batch was paid. Each reference is marked paid
    /// before its transfer (checks-effects-interactions) and the function is nonReentrant,
    /// so even a token with transfer hooks cannot re-enter to pay a reference twice.
    /// @param batch The batch's opaque id, chosen off chain; settled at most once.
    /// @param payouts The payouts, at least one.
    function settleBatch(bytes32 batch, Payout[] calldata payouts) external onlyRole(SETTLER_ROLE) nonReentrant {
        if (payouts.length == 0) {
            revert EmptyBatch();
        }
        if (_settledBatches[batch]) {
            revert BatchAlreadySettled(batch);
        }
        _settledBatches[batch] = true;

        uint256 total = 0;
        for (uint256 i = 0; i < payouts.length; ++i) {
            Payout calldata payout = payouts[i];
            if (payout.provider == address(0)) {
                revert ZeroProvider(payout.payoutReference);
            }
            if (payout.amount == 0) {
                revert ZeroAmount(payout.payoutReference);
            }
            if (_paid[payout.payoutReference]) {
                revert PayoutAlreadyPaid(payout.payoutReference);
            }
            _paid[payout.payoutReference] = true;
            total += payout.amount;

            token.safeTransfer(payout.provider, payout.amount);
            emit PayoutPaid(payout.payoutReference, payout.provider, payout.amount, batch);
        }
        emit BatchSettled(batch, payouts.length, total);
    }

    /// @notice True if this reference has been paid: the engine asks before re-sending a
    /// payout whose confirmation it never recorded.
    function isPaid(bytes32 payoutReference) external view returns (bool) {
        return _paid[payoutReference];
    }

    /// @notice True if this batch has been settled.
    function isBatchSettled(bytes32 batch) external view returns (bool) {
        return _settledBatches[batch];
    }
}
