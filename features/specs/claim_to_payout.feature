# Every scenario here also runs on PostgreSQL, NATS and anvil (tests/e2e.rs).
@e2e
Feature: A claim from submission to payout
  The payer adjudicates each claim with the rules of the member's benefit plan and pays
  the provider automatically, on chain, once the rules approve it. The member's share
  (deductible, copay, coinsurance) and the provider's write-off each carry their standard
  reason code.

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 250.00 USD  |
      | coinsurance       | 20%         |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category     | allowed per unit |
      | 29881     | surgery      | 1000.00 USD      |
      | 99213     | office-visit | 120.00 USD       |
    And the plan "Gold PPO" has a copay of 25.00 USD for "office-visit"
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the member "M-1002" was covered by "Gold PPO" from 2025-01-01 to 2026-02-28
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7

  Scenario: A claim above the fee schedule is approved after deductible and coinsurance
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed      |
      | 29881     | 2026-03-02      | 1     | 1200.00 USD |
    Then the claim is approved
    And the payer pays 600.00 USD
    And the member owes 400.00 USD
    And line 1 has these adjustments:
      | code  | amount     |
      | CO-45 | 200.00 USD |
      | PR-1  | 250.00 USD |
      | PR-2  | 150.00 USD |
    And member "M-1001" has met 250.00 USD of the 2026 deductible

  Scenario: A second claim is priced after the first used up the deductible
    Given "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | units | billed      |
      | 29881     | 2026-03-02      | 1     | 1200.00 USD |
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed     |
      | 99213     | 2026-04-10      | 1     | 180.00 USD |
    Then the claim is approved
    And the payer pays 76.00 USD
    And line 1 has these adjustments:
      | code  | amount    |
      | CO-45 | 60.00 USD |
      | PR-3  | 25.00 USD |
      | PR-2  | 19.00 USD |

  Scenario: A claim for care after the coverage lapsed is denied
    When "Clinic A" submits a claim for member "M-1002" with:
      | procedure | date of service | units | billed     |
      | 99213     | 2026-03-18      | 1     | 180.00 USD |
    Then the claim is denied
    And the payer pays 0.00 USD
    And the member owes 180.00 USD
    And line 1 has these adjustments:
      | code  | amount     |
      | PR-27 | 180.00 USD |

  Scenario: A claim for an unknown member is rejected at intake
    When "Clinic A" submits a claim for member "M-9999" with:
      | procedure | date of service | units | billed     |
      | 99213     | 2026-03-18      | 1     | 180.00 USD |
    Then the submission is rejected because "member M-9999 is not enrolled"

  Scenario: An approved claim's payout reaches the provider's wallet on chain
    Given "Clinic A" holds 0.00 USDC on chain
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed      |
      | 29881     | 2026-03-02      | 1     | 1200.00 USD |
    And the payer settles the approved claims
    Then the claim is paid
    And "Clinic A" receives 600.00 USDC on chain
