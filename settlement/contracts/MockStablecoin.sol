// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title A stand-in for USDC, for demos and tests only.
/// @notice Never deploy this where real money moves: its owner can mint without limit.
/// It exists so that the embedded EVM and local chains can run ClaimsSettlement against a
/// token with USDC's symbol and 6 decimals, which is what the engine's exact money-to-units
/// conversion is tested against. Like USDC, its owner can block an address, so that tests
/// can show a batch surviving a provider the token refuses to pay.
contract MockStablecoin is ERC20, Ownable {
    /// @notice Addresses that may neither send nor receive tokens.
    mapping(address account => bool blocked) public isBlocked;

    /// @notice The owner blocked or unblocked an address.
    event BlockedChanged(address indexed account, bool blocked);

    /// @notice A transfer from or to a blocked address was refused.
    /// @param account The blocked address.
    error AccountBlocked(address account);

    /// @notice The deployer becomes the owner, the only account that may mint and block.
    constructor() ERC20("Mock USD Coin", "USDC") Ownable(msg.sender) {}

    /// @notice 6 decimal places, like USDC: 1.00 USD is 1 000 000 base units.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Creates tokens, for funding the settlement contract's float in demos and tests.
    /// @param to Who receives them.
    /// @param amount How many, in base units.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Blocks or unblocks an address, as USDC's blacklister can: every transfer
    /// from or to a blocked address reverts with AccountBlocked.
    /// @param account The address.
    /// @param blocked True to block it, false to unblock it.
    function setBlocked(address account, bool blocked) external onlyOwner {
        isBlocked[account] = blocked;
        emit BlockedChanged(account, blocked);
    }

    /// @dev Every mint, burn and transfer passes here.
    function _update(address from, address to, uint256 value) internal override {
        if (isBlocked[from]) {
            revert AccountBlocked(from);
        }
        if (isBlocked[to]) {
            revert AccountBlocked(to);
        }
        super._update(from, to, value);
    }
}
