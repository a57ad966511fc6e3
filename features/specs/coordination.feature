Feature: Coordination of benefits as secondary payer
  When the member's other coverage pays first, this plan pays second, from the primary
  payer's remittance. Without the primary payer's payment for a line, the line goes to the
  primary payer first (CO-22). With it, the plan pays by its coordination method, and the
  part the primary payer settled is OA-23.

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 20%         |
      | out-of-pocket max | 9000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 29881     | surgery  | 1000.00 USD      |
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the member "M-1001" has other coverage with "Spouse Health" that pays first
    And the member "M-1002" is covered by "Gold PPO" from 2026-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7

  Scenario Outline: Worked example J by <method> coordination
    Given the plan "Gold PPO" pays second by <method> coordination
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      | primary paid |
      | 29881     | 2026-03-02      | 1000.00 USD | 700.00 USD   |
    Then the claim is approved
    And the payer pays <payer>
    And the member owes <member>

    Examples:
      | method          | payer      | member     |
      | standard        | 300.00 USD | 0.00 USD   |
      | non-duplication | 100.00 USD | 200.00 USD |

  Scenario: Standard coordination: the primary's payment shows as OA-23
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      | primary paid |
      | 29881     | 2026-03-02      | 1000.00 USD | 700.00 USD   |
    Then line 1 has these adjustments:
      | code  | amount     |
      | OA-23 | 700.00 USD |

  Scenario: Without the primary payer's payment the line goes to that payer first
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-02      | 1000.00 USD |
    Then the claim is denied
    And line 1 is not paid, reason CO-22

  Scenario: A member without other coverage is paid as primary
    When "Clinic A" submits a claim for member "M-1002" with:
      | procedure | date of service | billed      |
      | 29881     | 2026-03-02      | 1000.00 USD |
    Then the payer pays 800.00 USD

  Scenario: The deductible the primary payer settled still counts as met
    The plan credits to its deductible what it would have applied paying first, even
    where the primary payer's payment settled it, so the member never meets it twice.
    Given the plan "Silver PPO" in USD with:
      | deductible        | 250.00 USD  |
      | coinsurance       | 20%         |
      | out-of-pocket max | 9000.00 USD |
    And the plan "Silver PPO" allows these procedures:
      | procedure | category | allowed per unit |
      | 29881     | surgery  | 1000.00 USD      |
    And the plan "Silver PPO" pays second by standard coordination
    And the member "M-1003" is covered by "Silver PPO" from 2026-01-01
    And the member "M-1003" has other coverage with "Spouse Health" that pays first
    When "Clinic A" submits a claim for member "M-1003" with:
      | procedure | date of service | billed      | primary paid |
      | 29881     | 2026-03-02      | 1000.00 USD | 700.00 USD   |
      | 29881     | 2026-03-09      | 1000.00 USD | 0.00 USD     |
    Then the payer pays 1100.00 USD
    And the member owes 200.00 USD
    And line 2 has these adjustments:
      | code | amount     |
      | PR-2 | 200.00 USD |
    And member "M-1003" has met 250.00 USD of the 2026 deductible

  Scenario: A primary payment coordination cannot subtract is refused at intake
    An amount below zero, with fractions of a cent, or in another currency than the line
    is refused with the line named, not decided on a guess.
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | billed      | primary paid |
      | 29881     | 2026-03-02      | 1000.00 USD | 700.00 EUR   |
    Then the submission is rejected because "line 1 says the primary payer paid 700.00 EUR; send an amount of at least zero, in whole cents, in the line's currency (USD)"

  Scenario: Primary payments for a member without other coverage are refused at intake
    Paying such a claim as primary would pay again what the other payer paid; ignoring
    the amounts would drop what the insurer said. The enrolment must say who pays first.
    When "Clinic A" submits a claim for member "M-1002" with:
      | procedure | date of service | billed      | primary paid |
      | 29881     | 2026-03-02      | 1000.00 USD | 700.00 USD   |
    Then the submission is rejected because "lines say what a primary payer paid, but member M-1002 has no other coverage on file that pays first; enrol the member with their primary payer, or send the claim without primary_paid"
