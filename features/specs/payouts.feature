Feature: Payouts on chain
  Approved claims are paid in batches through the settlement contract: each provider gets
  one transfer per batch, netting all its claims in it, in USDC. Denied claims pay nothing.

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 20%         |
      | out-of-pocket max | 9000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category     | allowed per unit |
      | 29881     | surgery      | 1000.00 USD      |
      | 99213     | office-visit | 120.00 USD       |
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the member "M-1002" was covered by "Gold PPO" from 2025-01-01 to 2026-02-28
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7
    And the provider "Hospital B" is paid to wallet 0x8617E340B3D01FA5F11F306F4090FD50E238070D

  @e2e
  Scenario: Each provider receives the sum of its approved claims in one batch
    Given "Clinic A" holds 0.00 USDC on chain
    And "Hospital B" holds 0.00 USDC on chain
    And "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed     |
      | 99213     | 2026-03-02      | 120.00 USD |
    And "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed     |
      | 99213     | 2026-03-09      | 120.00 USD |
    And "Hospital B" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-10      | 1000.00 USD |
    When the payer settles the approved claims
    Then the claim is paid
    And "Clinic A" receives 192.00 USDC on chain
    And "Hospital B" receives 800.00 USDC on chain

  @e2e
  Scenario: A denied claim pays nothing on chain
    Given "Clinic A" holds 0.00 USDC on chain
    When "Clinic A" submits a claim for member "M-1002" with:
      | procedure | date of service | billed     |
      | 99213     | 2026-03-18      | 120.00 USD |
    And the payer settles the approved claims
    Then the claim is denied
    And "Clinic A" receives 0.00 USDC on chain
