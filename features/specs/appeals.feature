Feature: Appeals of denials that used the member's benefits
  A denied claim may have used some of the member's benefits: a line that went to the
  deductible, say, beside a line denied for a missing authorisation. When the provider
  appeals, what the denial used is given back first and the claim is decided again on
  today's inputs, in one step: the deductible is never counted twice, whatever the new
  decision.

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 250.00 USD  |
      | coinsurance       | 20%         |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 29881     | surgery  | 2000.00 USD      |
      | 27447     | surgery  | 2000.00 USD      |
    And the plan "Gold PPO" requires prior authorisation for "27447"
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7
    And "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-10      | 200.00 USD  |
      | 27447     | 2026-03-10      | 1500.00 USD |

  Scenario: The denial used part of the deductible
    Then the claim is denied
    And line 2 is not paid, reason CO-197
    And member "M-1001" has met 200.00 USD of the 2026 deductible

  Scenario: Once authorised, the appealed claim is paid and the deductible counted once
    Given "Clinic A" holds 0.00 USDC on chain
    And the payer authorised "27447" for member "M-1001" at "Clinic A" from 2026-03-01 to 2026-03-31 as "PA-0002"
    When "Clinic A" appeals the claim because "authorisation PA-0002 was granted"
    And the payer settles the approved claims
    Then the claim was appealed by "Clinic A"
    And the claim is paid
    And the payer pays 1160.00 USD
    And member "M-1001" has met 250.00 USD of the 2026 deductible
    And member "M-1001" has paid 540.00 USD out of pocket in 2026
    And "Clinic A" receives 1160.00 USDC on chain

  Scenario: Without a new authorisation the appeal is denied again, the deductible counted once
    Given "Clinic A" holds 0.00 USDC on chain
    When "Clinic A" appeals the claim because "the surgery was urgent"
    And the payer settles the approved claims
    Then the claim was appealed by "Clinic A"
    And the claim is denied
    And line 2 is not paid, reason CO-197
    And member "M-1001" has met 200.00 USD of the 2026 deductible
    And "Clinic A" receives 0.00 USDC on chain
