// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

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
/// - A batch is packed bytes, not ABI arrays: a sequence of runs, each a provider, the
///   first settlement index of a range of consecutive indices, the range's length and one
///   amount per claim (see `settleBatch`). The engine gives each provider's claims in a
///   batch consecutive indices, so a provider is usually one run: 30 bytes per provider
///   and 8 per claim.
/// - A bitmap keyed by settlement index records every claim ever settled: a run's range is
///   checked and set a whole 256-bit word at a time, so the idempotency marker costs one
///   storage write per word touched, not one per claim. It is the only idempotency record:
///   a batch sent twice is refused on its first claim, and no per-batch slot is written.
/// - Runs come in ascending provider order; consecutive runs of one provider are netted
///   into one transfer. A provider further down the list again is refused, so each
///   provider receives one transfer per batch, and the order needs no storage to check.
/// - A transfer that fails (the token blacklists the provider, say) does not revert the
///   batch: the amount is credited to the provider's owed balance, which the provider
///   withdraws later. The claims stay settled; only the delivery is deferred.
/// - One event per batch, `BatchSettled`, carries the packed runs: every claim's index,
///   provider and amount can be read back from the logs for reconciliation, at 8 gas per
///   byte instead of a log per claim.
/// - A per-claim cap and a per-UTC-day cap bound what a leaked settler key can pay out, on
///   top of the working float the contract holds (topped up from treasury).
/// - The pauser stops every outflow at once; only the admin can resume, change caps or
///   change roles.
contract ClaimsSettlement is AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The engine's hot key: it may settle batches and do nothing else.
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    /// @notice Operations or monitoring: may pause every outflow at once, and nothing else.
    /// Resuming is the admin's decision (DEFAULT_ADMIN_ROLE, a multisig in production).
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice The 6-decimal stablecoin providers are paid in. Immutable: a payout's
    /// amount only means something in the token the engine priced it in.
    IERC20 public immutable token;

    /// @dev Bytes of a run's header: provider (20), first index (8), claim count (2).
    uint256 private constant RUN_HEADER = 30;
    /// @dev Bytes of one claim's amount in a run (uint48, token base units: up to about
    /// 281 million at 6 decimals).
    uint256 private constant AMOUNT_BYTES = 6;

    /// @dev Both caps in one storage slot, read together by every batch.
    struct Caps {
        uint128 perClaim;
        uint128 perDay;
    }

    /// @dev What every batch reads and writes besides the bitmap, in one slot: the
    /// current UTC day and what was settled on it (a new day overwrites both, so a batch
    /// rewrites a non-zero slot instead of filling a fresh one each day), and the sum of
    /// every provider's owed balance (tokens held for providers, never paid in a batch).
    struct Ledger {
        uint32 day;
        uint112 settledToday;
        uint112 totalOwed;
    }

    Caps private _caps;

    Ledger private _ledger;

    /// @notice What each provider is owed after a failed transfer, in token base units.
    mapping(address provider => uint256 amount) public owed;

    /// @dev Every settlement index ever settled, 256 to a word: bit `i % 256` of word
    /// `i / 256`. It is the contract's only idempotency record: a batch sent again is
    /// refused on its first claim (`ClaimAlreadySettled`), and the engine finds the batch's
    /// `BatchSettled` log by its id (an indexed topic) to tell a resend from a conflict.
    mapping(uint256 word => uint256 bits) private _settledClaims;

    /// @notice A batch was settled: how many claims, their total, how much of the total
    /// was credited as owed instead of transferred, and the packed runs themselves, from
    /// which every claim's settlement index, provider and amount can be read back. The
    /// engine checks these against what it sent and reconciles its store against them.
    event BatchSettled(bytes32 indexed batch, uint256 claims, uint256 total, uint256 owed, bytes payouts);

    /// @notice The transfer to a provider failed; the amount was added to what it is owed
    /// and it can withdraw it later. Its claims are settled all the same. A provider of the
    /// batch without this event was transferred its netted amount.
    event ProviderOwed(bytes32 indexed batch, address indexed provider, uint256 amount);

    /// @notice A provider withdrew what it was owed.
    event OwedWithdrawn(address indexed provider, uint256 amount);

    /// @notice The admin changed the caps.
    event CapsChanged(uint256 claimCap, uint256 dailyCap);

    /// @notice A batch must settle at least one claim; an empty one is a bug in the caller.
    error EmptyBatch();
    /// @notice The packed payouts end in the middle of a run.
    /// @param offset Where the incomplete run starts.
    error MalformedPayouts(uint256 offset);
    /// @notice A run names no claim.
    /// @param provider The run's provider.
    error EmptyProviderPayout(address provider);
    /// @notice This claim was already settled, in this or an earlier batch: paying again
    /// would pay twice. The engine treats it as "already settled" and reconciles.
    /// @param index The claim's settlement index.
    error ClaimAlreadySettled(uint256 index);
    /// @notice The payout names the zero address, where the tokens would be lost.
    error ZeroProvider();
    /// @notice Runs are not in ascending provider order: a provider comes back after
    /// another (a batch must net each provider's claims into one payout) or the list is
    /// unsorted.
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
    /// @notice A cap does not fit in 112 bits of token base units.
    error CapTooLarge();
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
    /// @dev `payouts` is a sequence of runs, each, big-endian and unpadded:
    /// `provider (20 bytes) ‖ first index (8) ‖ count (2) ‖ count × amount (6 each)`;
    /// the run settles indices `first … first + count - 1`, in that order, with those
    /// amounts. Checks and effects for every claim (bitmap, batch marker, daily total) come
    /// before any transfer; the function is nonReentrant as well, so even a token with
    /// transfer hooks cannot re-enter to settle a claim twice.
    /// @param batch The batch's opaque id, chosen off chain, named in the batch's events.
    /// @param payouts The packed runs, in ascending provider order.
    function settleBatch(bytes32 batch, bytes calldata payouts)
        external
        onlyRole(SETTLER_ROLE)
        whenNotPaused
        nonReentrant
    {
        if (payouts.length == 0) {
            revert EmptyBatch();
        }

        // Checks and effects: every claim is marked settled before any token moves.
        (address[] memory providers, uint256[] memory amounts, uint256 claims, uint256 total) = _settleRuns(payouts);
        Ledger memory ledger = _ledger;
        _spendDailyCap(ledger, total);
        uint256 balance = token.balanceOf(address(this));
        uint256 available = balance > ledger.totalOwed ? balance - ledger.totalOwed : 0;
        if (total > available) {
            revert InsufficientFloat(total, available);
        }

        // Interactions: one transfer per provider; a failed one becomes owed.
        uint256 owedInBatch = _pay(batch, providers, amounts);
        // Below the float, which the token's supply bounds: fits, but checked all the same.
        ledger.totalOwed = _fit112(ledger.totalOwed + owedInBatch);
        _ledger = ledger;
        emit BatchSettled(batch, claims, total, owedInBatch, payouts);
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
        _ledger.totalOwed -= uint112(amount);
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

    /// @notice Sets the per-claim and per-day caps, both in token base units, non-zero and
    /// within 112 bits.
    /// @param claimCap_ The largest amount one claim may pay.
    /// @param dailyCap_ The most the contract may settle per UTC day.
    function setCaps(uint256 claimCap_, uint256 dailyCap_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setCaps(claimCap_, dailyCap_);
    }

    /// @notice The sum of every provider's owed balance: tokens the contract holds for
    /// providers and never pays out in a batch.
    function totalOwed() external view returns (uint256) {
        return _ledger.totalOwed;
    }

    /// @notice The largest amount a single claim may pay, in token base units.
    function claimCap() external view returns (uint256) {
        return _caps.perClaim;
    }

    /// @notice The most the contract may settle in one UTC day (block timestamp divided
    /// into 86 400-second days), in token base units, owed amounts included.
    function dailyCap() external view returns (uint256) {
        return _caps.perDay;
    }

    /// @notice True if the claim with this settlement index has been settled: the engine
    /// asks before re-sending a claim whose confirmation it never recorded.
    /// @param index The claim's settlement index.
    function isClaimSettled(uint256 index) external view returns (bool) {
        return (_settledClaims[index >> 8] >> (index & 0xff)) & 1 == 1;
    }

    /// @notice What the daily cap still allows today, in token base units.
    function remainingToday() external view returns (uint256) {
        return _remaining(_settledToday(_ledger));
    }

    /// @dev Checks and marks every run; returns the providers with their netted amounts
    /// (at most one per run, so the arrays are sized by the shortest possible run and
    /// trimmed), the number of claims and the total.
    function _settleRuns(bytes calldata payouts)
        private
        returns (address[] memory providers, uint256[] memory amounts, uint256 claims, uint256 total)
    {
        uint256 maxProviders = payouts.length / (RUN_HEADER + AMOUNT_BYTES) + 1;
        providers = new address[](maxProviders);
        amounts = new uint256[](maxProviders);
        uint256 providerCount = 0;
        uint256 cap = _caps.perClaim;
        address previous = address(0);
        uint256 offset = 0;
        while (offset < payouts.length) {
            (address provider, uint256 count, uint256 sum) = _settleRun(payouts, offset, cap);
            if (provider == previous) {
                // The same provider's next run: netted into its one transfer.
                amounts[providerCount - 1] += sum;
            } else {
                if (provider < previous) {
                    revert ProvidersNotAscending(provider);
                }
                providers[providerCount] = provider;
                amounts[providerCount] = sum;
                ++providerCount;
                previous = provider;
            }
            total += sum;
            claims += count;
            offset += RUN_HEADER + count * AMOUNT_BYTES;
        }
        assembly ("memory-safe") {
            mstore(providers, providerCount)
            mstore(amounts, providerCount)
        }
    }

    /// @dev Transfers each provider its netted amount; a failed transfer is credited as
    /// owed instead. Returns the batch's owed total.
    function _pay(bytes32 batch, address[] memory providers, uint256[] memory amounts)
        private
        returns (uint256 owedInBatch)
    {
        for (uint256 i = 0; i < providers.length; ++i) {
            address provider = providers[i];
            uint256 amount = amounts[i];
            if (!token.trySafeTransfer(provider, amount)) {
                owed[provider] += amount;
                owedInBatch += amount;
                emit ProviderOwed(batch, provider, amount);
            }
        }
    }

    /// @dev Checks one run's claims against the cap, marks its range settled and returns
    /// the run's provider, claim count and sum.
    function _settleRun(bytes calldata payouts, uint256 offset, uint256 cap)
        private
        returns (address provider, uint256 count, uint256 sum)
    {
        uint256 first;
        if (payouts.length - offset < RUN_HEADER) {
            revert MalformedPayouts(offset);
        }
        uint256 amountsAt;
        assembly ("memory-safe") {
            let at := add(payouts.offset, offset)
            provider := shr(96, calldataload(at))
            first := shr(192, calldataload(add(at, 20)))
            count := shr(240, calldataload(add(at, 28)))
            amountsAt := add(at, 30)
        }
        if (provider == address(0)) {
            revert ZeroProvider();
        }
        if (count == 0) {
            revert EmptyProviderPayout(provider);
        }
        if (payouts.length - offset - RUN_HEADER < count * AMOUNT_BYTES) {
            revert MalformedPayouts(offset);
        }
        // The per-claim loop in assembly: it runs for every claim of every batch. count <
        // 2^16 and each amount < 2^48, so neither the offsets nor the sum overflow. A zero
        // or over-cap amount stops it with `refused` at its position.
        uint256 refused = 0;
        assembly ("memory-safe") {
            let end := add(amountsAt, mul(count, 6))
            for { let at := amountsAt } lt(at, end) { at := add(at, 6) } {
                let amount := shr(208, calldataload(at))
                if or(iszero(amount), gt(amount, cap)) {
                    refused := at
                    break
                }
                sum := add(sum, amount)
            }
        }
        if (refused != 0) {
            uint256 index = first + (refused - amountsAt) / AMOUNT_BYTES;
            uint256 amount;
            assembly ("memory-safe") {
                amount := shr(208, calldataload(refused))
            }
            if (amount == 0) {
                revert ZeroAmount(index);
            }
            revert ClaimAboveCap(index, amount, cap);
        }
        _markSettled(first, count);
    }

    /// @dev Marks indices `first … first + count - 1` settled, a bitmap word at a time, or
    /// reverts on the first one already settled.
    function _markSettled(uint256 first, uint256 count) private {
        uint256 index = first;
        uint256 end = first + count;
        while (index < end) {
            uint256 word = index >> 8;
            uint256 bit = index & 0xff;
            uint256 span = 256 - bit;
            if (span > end - index) {
                span = end - index;
            }
            uint256 mask = (span == 256 ? type(uint256).max : (uint256(1) << span) - 1) << bit;
            uint256 bits = _settledClaims[word];
            uint256 clash = bits & mask;
            if (clash != 0) {
                revert ClaimAlreadySettled((word << 8) + _lowestBit(clash));
            }
            _settledClaims[word] = bits | mask;
            index += span;
        }
    }

    /// @dev The position of the lowest set bit of a non-zero word (only on the error path).
    function _lowestBit(uint256 bits) private pure returns (uint256 position) {
        while (bits & 1 == 0) {
            bits >>= 1;
            ++position;
        }
    }

    /// @dev Adds `amount` to today's settlements in `ledger`, or reverts if the daily cap
    /// forbids it. The caller stores the ledger.
    function _spendDailyCap(Ledger memory ledger, uint256 amount) private view {
        uint256 settled = _settledToday(ledger);
        uint256 remaining = _remaining(settled);
        if (amount > remaining) {
            revert DailyCapExceeded(amount, remaining);
        }
        // At most the daily cap, which fits in 112 bits.
        ledger.day = uint32(_today());
        ledger.settledToday = uint112(settled + amount);
    }

    /// @dev What has been settled today: the stored total if it is today's, else nothing.
    function _settledToday(Ledger memory ledger) private view returns (uint256) {
        return ledger.day == _today() ? ledger.settledToday : 0;
    }

    /// @dev `value` as 112 bits, or a revert (a plain panic: it cannot happen with a real
    /// token supply).
    function _fit112(uint256 value) private pure returns (uint112) {
        require(value <= type(uint112).max);
        return uint112(value);
    }

    /// @dev What today's cap still allows after `settled`.
    function _remaining(uint256 settled) private view returns (uint256) {
        uint256 perDay = _caps.perDay;
        return settled >= perDay ? 0 : perDay - settled;
    }

    function _setCaps(uint256 claimCap_, uint256 dailyCap_) private {
        if (claimCap_ == 0 || dailyCap_ == 0) {
            revert ZeroCap();
        }
        if (claimCap_ > type(uint112).max || dailyCap_ > type(uint112).max) {
            revert CapTooLarge();
        }
        _caps = Caps({perClaim: uint128(claimCap_), perDay: uint128(dailyCap_)});
        emit CapsChanged(claimCap_, dailyCap_);
    }

    function _today() private view returns (uint256) {
        return block.timestamp / 1 days;
    }
}
