// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title A stand-in for USDC, for demos and tests only.
/// @notice Never deploy this where real money moves: its owner can mint without limit.
/// It exists so that the embedded EVM and local chains can run ClaimsSettlement against a
/// token with USDC's symbol and 6 decimals, which is what the engine's exact money-to-units
/// conversion is tested against.
contract MockStablecoin is ERC20, Ownable {
    /// @notice The deployer becomes the owner, the only account that may mint.
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
}
