Feature: Duplicate claims
  A line that repeats a service the plan already allowed on another claim of the member
  (same provider, date of service, procedure, modifiers, units and billed amount) is not
  paid again (OA-18).

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 20%         |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category     | allowed per unit |
      | 99213     | office-visit | 120.00 USD       |
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7
    And "Clinic A" submitted a claim for member "M-1001" with:
      | procedure | date of service | units | billed     |
      | 99213     | 2026-03-10      | 1     | 120.00 USD |

  Scenario: The same visit billed again on a new claim is a duplicate
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed     |
      | 99213     | 2026-03-10      | 1     | 120.00 USD |
    Then the claim is denied
    And line 1 is not paid, reason OA-18
    And the payer pays 0.00 USD

  Scenario Outline: A visit that differs in <difference> is not a duplicate
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | date of service | units | billed     | modifiers   |
      | 99213     | <date>          | 1     | 120.00 USD | <modifiers> |
    Then the claim is approved
    And the payer pays 96.00 USD

    Examples:
      | difference          | date       | modifiers |
      | its date of service | 2026-03-11 |           |
      | its modifiers       | 2026-03-10 | 25        |
