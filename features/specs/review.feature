Feature: Pend for manual review, and the reviewer's decision
  A claim billed above the plan's review threshold waits for a reviewer instead of being
  decided automatically; nothing is paid until a reviewer decides. A reviewer who approves
  it releases it to the plan's rules (every rule but the threshold still applies); one who
  denies it makes nothing payable. The decision and who made it are recorded on the claim.

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 20%         |
      | out-of-pocket max | 9000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 27447     | surgery  | 9000.00 USD      |
    And the plan "Gold PPO" sends claims billed above 5000.00 USD to a reviewer
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7

  Scenario: A claim above the threshold is pended
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 27447     | 2026-03-02      | 6000.00 USD |
    Then the claim is pended because "billed 6000.00 USD is above the plan's review threshold of 5000.00 USD"

  Scenario: A claim at the threshold is decided automatically
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 27447     | 2026-03-02      | 5000.00 USD |
    Then the claim is approved
    And the payer pays 4000.00 USD

  Scenario: A pended claim is not paid on chain
    Given "Clinic A" holds 0.00 USDC on chain
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 27447     | 2026-03-02      | 6000.00 USD |
    And the payer settles the approved claims
    Then the claim is pended
    And "Clinic A" receives 0.00 USDC on chain

  Scenario: A reviewer approves a pended claim and the provider is paid
    Given "Clinic A" holds 0.00 USDC on chain
    And "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 27447     | 2026-03-02      | 6000.00 USD |
    When reviewer "Dr Rao" approves the claim
    And the payer settles the approved claims
    Then the claim was approved by reviewer "Dr Rao"
    And the payer pays 4800.00 USD
    And the claim is paid
    And "Clinic A" receives 4800.00 USDC on chain

  Scenario: A reviewer denies a pended claim
    Given "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 27447     | 2026-03-02      | 6000.00 USD |
    When reviewer "Dr Rao" denies the claim because "no medical necessity documented"
    Then the claim is denied
    And the claim was denied by reviewer "Dr Rao"
    And the payer pays 0.00 USD
