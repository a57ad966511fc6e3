// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

/// @title Pays healthcare providers for approved insurance claims, in batches.
/// @notice The claims engine adjudicates claims off chain; this contract only moves the
/// stablecoin it holds to providers' wallets, and refuses, on its own, to pay any claim
/// twice. It is the last line of defence for "a provider is paid for an approved claim
/// exactly once": even if the engine crashes between sending a batch and recording it, or
/// re-sends a batch, no claim is paid a second time.
/// @dev Design, in the order a batch meets it:
/// - A claim is named on chain by its settlement index: a number the engine assigns from a
///   per-contract sequence kept in its event log. Nothing else about the claim (member,
///   diagnosis, procedure, the engine's claim id) ever reaches this contract.
/// - A bitmap keyed by that index records every claim ever settled: 256 claims share one
///   storage slot, so the idempotency marker costs a few hundred gas per claim instead of a
///   fresh slot each.
/// - The engine nets a batch per provider: each provider appears once, with the claims it
///   is paid for, and receives one transfer. Providers must come in strictly ascending
///   address order, which lets the contract refuse a provider named twice without storage.
/// - A transfer that fails (the token blacklists the provider, say) does not revert the
///   batch: the amount is credited to the provider's owed balance, which the provider
///   withdraws later. The claims stay settled; only the delivery is deferred.
/// - A per-claim cap and a per-UTC-day cap bound what a leaked settler key can pay out, on
///   top of the working float the contract holds (topped up from treasury).
/// - The pauser stops every outflow at once; only the admin can resume, change caps or
///   change roles.
contract ClaimsSettlement is AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using BitMaps for BitMaps.BitMap;

    /// @notice The engine's hot key: it may settle batches and do nothing else.
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    /// @notice Operations or monitoring: may pause every outflow at once, and nothing else.
    /// Resuming is the admin's decision (DEFAULT_ADMIN_ROLE, a multisig in production).
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice The 6-decimal stablecoin providers are paid in. Immutable: a payout's
    /// amount only means something in the token the engine priced it in.
    IERC20 public immutable token;

    /// @notice One claim of a provider's payout: its settlement index and its amount in
    /// token base units.
    struct ClaimPayout {
        uint256 index;
        uint256 amount;
    }

    /// @notice What a batch pays one provider: its wallet and the claims it is paid for.
    /// The provider receives their sum in one transfer.
    struct ProviderPayout {
        address provider;
        ClaimPayout[] claims;
    }

    /// @notice The largest amount a single claim may pay, in token base units.
    uint256 public claimCap;

    /// @notice The most the contract may settle in one UTC day (block timestamp divided
    /// into 86 400-second days), in token base units, owed amounts included.
    uint256 public dailyCap;

    /// @notice What each provider is owed after a failed transfer, in token base units.
    mapping(address provider => uint256 amount) public owed;

    /// @notice The sum of every provider's owed balance: tokens the contract holds for
    /// providers and never pays out in a batch.
    uint256 public totalOwed;

    /// @dev Every settlement index ever settled.
    BitMaps.BitMap private _settledClaims;

    /// @dev Every batch ever settled, so a re-sent transaction is refused as a whole with
    /// a clear error rather than on its first claim.
    mapping(bytes32 batch => bool settled) private _settledBatches;

    /// @dev What was settled on each UTC day, for the daily cap.
    mapping(uint256 day => uint256 amount) private _settledOnDay;

    /// @notice A claim was settled: its provider was paid for it, or is owed it.
    /// Indexed by settlement index (the engine's reconciliation key) and provider (the
    /// provider's remittance).
    event ClaimSettled(uint256 indexed index, address indexed provider, uint256 amount);

    /// @notice A provider received its netted payout for a batch, in one transfer.
    event ProviderPaid(bytes32 indexed batch, address indexed provider, uint256 amount, uint256 claims);

    /// @notice The transfer to a provider failed; the amount was added to what it is owed
    /// and it can withdraw it later. Its claims are settled all the same.
    event ProviderOwed(bytes32 indexed batch, address indexed provider, uint256 amount, uint256 claims);

    /// @notice A provider withdrew what it was owed.
    event OwedWithdrawn(address indexed provider, uint256 amount);

    /// @notice A batch was settled: how many claims it settled, their total, and how much
    /// of the total was credited as owed instead of transferred. The engine checks these
    /// against the sums it computed off chain.
    event BatchSettled(bytes32 indexed batch, uint256 claims, uint256 total, uint256 owed);

    /// @notice The admin changed the caps.
    event CapsChanged(uint256 claimCap, uint256 dailyCap);

    /// @notice A batch must settle at least one claim; an empty one is a bug in the caller.
    error EmptyBatch();
    /// @notice A provider's payout in a batch names no claim.
    /// @param provider The provider.
    error EmptyProviderPayout(address provider);
    /// @notice This batch was already settled: the transaction was sent twice.
    /// @param batch The batch's id.
    error BatchAlreadySettled(bytes32 batch);
    /// @notice This claim was already settled, in this or an earlier batch: paying again
    /// would pay twice. The engine treats it as "already settled" and reconciles.
    /// @param index The claim's settlement index.
    error ClaimAlreadySettled(uint256 index);
    /// @notice The payout names the zero address, where the tokens would be lost.
    error ZeroProvider();
    /// @notice Providers are not in strictly ascending address order: one is named twice
    /// (a batch must net each provider's claims into one payout) or the list is unsorted.
    /// @param provider The first provider out of order.
    error ProvidersNotAscending(address provider);
    /// @notice The claim pays nothing: an approved claim that pays nothing is not sent.
    /// @param index The claim's settlement index.
    error ZeroAmount(uint256 index);
    /// @notice The claim pays more than the per-claim cap allows.
    /// @param index The claim's settlement index.
    /// @param amount What it would pay.
    /// @param cap The per-claim cap.
    error ClaimAboveCap(uint256 index, uint256 amount, uint256 cap);
    /// @notice The batch would take today's settlements past the daily cap.
    /// @param requested The batch's total.
    /// @param remaining What today's cap still allows.
    error DailyCapExceeded(uint256 requested, uint256 remaining);
    /// @notice The contract's float, less what it holds for owed providers, cannot cover
    /// the batch: top the float up from treasury.
    /// @param requested The batch's total.
    /// @param available The float available to batches.
    error InsufficientFloat(uint256 requested, uint256 available);
    /// @notice The caller is owed nothing.
    /// @param provider The caller.
    error NothingOwed(address provider);
    /// @notice A cap of zero would refuse every claim; pause the contract instead.
    error ZeroCap();
    /// @notice The constructor needs a token, an admin, a settler and a pauser.
    error ZeroAddress();

    /// @param token_ The stablecoin payouts are made in.
    /// @param admin Holds DEFAULT_ADMIN_ROLE: grants and revokes roles, unpauses, sets caps.
    /// @param settler Holds SETTLER_ROLE: the engine's key, which may only settle.
    /// @param pauser Holds PAUSER_ROLE: may only pause.
    /// @param claimCap_ The largest amount one claim may pay, in base units.
    /// @param dailyCap_ The most the contract may settle per UTC day, in base units.
    constructor(
        IERC20 token_,
        address admin,
        address settler,
        address pauser,
        uint256 claimCap_,
        uint256 dailyCap_
    ) {
        if (address(token_) == address(0) || admin == address(0) || settler == address(0) || pauser == address(0))
        {
            revert ZeroAddress();
        }
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SETTLER_ROLE, settler);
        _grantRole(PAUSER_ROLE, pauser);
        _setCaps(claimCap_, dailyCap_);
    }

    /// @notice Settles every claim of a batch, netted per provider: each provider receives
    /// the sum of its claims in one transfer, or is credited it as owed if the transfer
    /// fails. Any refused claim reverts the whole batch.
    /// @dev Checks and effects for every claim (bitmap, batch marker, daily total) come
    /// before any transfer; the function is nonReentrant as well, so even a token with
    /// transfer hooks cannot re-enter to settle a claim twice.
    /// @param batch The batch's opaque id, chosen off chain; settled at most once.
    /// @param payouts One entry per provider, in strictly ascending address order.
    function settleBatch(bytes32 batch, ProviderPayout[] calldata payouts)
        external
        onlyRole(SETTLER_ROLE)
        whenNotPaused
        nonReentrant
    {
        if (payouts.length == 0) {
            revert EmptyBatch();
        }
        if (_settledBatches[batch]) {
            revert BatchAlreadySettled(batch);
        }
        _settledBatches[batch] = true;

        // Checks and effects: every claim is marked settled before any token moves.
        uint256[] memory amounts = new uint256[](payouts.length);
        uint256 total = 0;
        uint256 claims = 0;
        address previous = address(0);
        for (uint256 i = 0; i < payouts.length; ++i) {
            address provider = payouts[i].provider;
            if (provider == address(0)) {
                revert ZeroProvider();
            }
            if (provider <= previous) {
                revert ProvidersNotAscending(provider);
            }
            previous = provider;
            amounts[i] = _settleClaims(provider, payouts[i].claims);
            total += amounts[i];
            claims += payouts[i].claims.length;
        }
        _spendDailyCap(total);
        uint256 available = _availableFloat();
        if (total > available) {
            revert InsufficientFloat(total, available);
        }

        // Interactions: one transfer per provider; a failed one becomes owed.
        uint256 owedInBatch = 0;
        for (uint256 i = 0; i < payouts.length; ++i) {
            address provider = payouts[i].provider;
            uint256 count = payouts[i].claims.length;
            if (token.trySafeTransfer(provider, amounts[i])) {
                emit ProviderPaid(batch, provider, amounts[i], count);
            } else {
                owed[provider] += amounts[i];
                totalOwed += amounts[i];
                owedInBatch += amounts[i];
                emit ProviderOwed(batch, provider, amounts[i], count);
            }
        }
        emit BatchSettled(batch, claims, total, owedInBatch);
    }

    /// @notice Transfers everything the caller is owed to the caller.
    /// @dev Reverts (and keeps the balance owed) if the transfer still fails. Paused with
    /// every other outflow.
    function withdraw() external whenNotPaused nonReentrant {
        uint256 amount = owed[msg.sender];
        if (amount == 0) {
            revert NothingOwed(msg.sender);
        }
        owed[msg.sender] = 0;
        totalOwed -= amount;
        token.safeTransfer(msg.sender, amount);
        emit OwedWithdrawn(msg.sender, amount);
    }

    /// @notice Stops every outflow: settling and withdrawing.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes settling and withdrawing.
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    /// @notice Sets the per-claim and per-day caps, both in token base units and non-zero.
    /// @param claimCap_ The largest amount one claim may pay.
    /// @param dailyCap_ The most the contract may settle per UTC day.
    function setCaps(uint256 claimCap_, uint256 dailyCap_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setCaps(claimCap_, dailyCap_);
    }

    /// @notice True if the claim with this settlement index has been settled: the engine
    /// asks before re-sending a claim whose confirmation it never recorded.
    /// @param index The claim's settlement index.
    function isClaimSettled(uint256 index) external view returns (bool) {
        return _settledClaims.get(index);
    }

    /// @notice True if this batch has been settled.
    /// @param batch The batch's id.
    function isBatchSettled(bytes32 batch) external view returns (bool) {
        return _settledBatches[batch];
    }

    /// @notice What the daily cap still allows today, in token base units.
    function remainingToday() external view returns (uint256) {
        uint256 settled = _settledOnDay[_today()];
        return settled >= dailyCap ? 0 : dailyCap - settled;
    }

    /// @dev Checks and marks one provider's claims; returns their sum.
    function _settleClaims(address provider, ClaimPayout[] calldata claims) private returns (uint256 sum) {
        if (claims.length == 0) {
            revert EmptyProviderPayout(provider);
        }
        uint256 cap = claimCap;
        for (uint256 j = 0; j < claims.length; ++j) {
            uint256 index = claims[j].index;
            uint256 amount = claims[j].amount;
            if (amount == 0) {
                revert ZeroAmount(index);
            }
            if (amount > cap) {
                revert ClaimAboveCap(index, amount, cap);
            }
            if (_settledClaims.get(index)) {
                revert ClaimAlreadySettled(index);
            }
            _settledClaims.set(index);
            sum += amount;
            emit ClaimSettled(index, provider, amount);
        }
    }

    /// @dev Adds `amount` to today's settlements, or reverts if the daily cap forbids it.
    function _spendDailyCap(uint256 amount) private {
        uint256 day = _today();
        uint256 settled = _settledOnDay[day];
        uint256 remaining = settled >= dailyCap ? 0 : dailyCap - settled;
        if (amount > remaining) {
            revert DailyCapExceeded(amount, remaining);
        }
        _settledOnDay[day] = settled + amount;
    }

    /// @dev The token balance that batches may pay from: all of it but what is owed.
    function _availableFloat() private view returns (uint256) {
        uint256 balance = token.balanceOf(address(this));
        return balance > totalOwed ? balance - totalOwed : 0;
    }

    function _setCaps(uint256 claimCap_, uint256 dailyCap_) private {
        if (claimCap_ == 0 || dailyCap_ == 0) {
            revert ZeroCap();
        }
        claimCap = claimCap_;
        dailyCap = dailyCap_;
        emit CapsChanged(claimCap_, dailyCap_);
    }

    function _today() private view returns (uint256) {
        return block.timestamp / 1 days;
    }
}
