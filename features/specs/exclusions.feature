Feature: Exclusions and non-covered services
  A procedure the plan excludes is not covered under the member's plan (CO-204), even when
  the fee schedule prices it. Treatment for a diagnosis the plan excludes (cosmetic care,
  for instance) is a non-covered charge (CO-96). The provider writes either off.

  Background:
    Given the plan "Gold PPO" in USD with:
      | deductible        | 0.00 USD    |
      | coinsurance       | 0%          |
      | out-of-pocket max | 3000.00 USD |
    And the plan "Gold PPO" allows these procedures:
      | procedure | category     | allowed per unit |
      | 15780     | surgery      | 900.00 USD       |
      | 99213     | office-visit | 120.00 USD       |
    And the plan "Gold PPO" excludes the procedure "15780"
    And the plan "Gold PPO" excludes the diagnosis "Z41.1"
    And the member "M-1001" is covered by "Gold PPO" from 2026-01-01
    And the provider "Clinic A" is paid to wallet 0x52908400098527886E0F7030069857D2E4169EE7

  Scenario Outline: <service> is <outcome>
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure   | diagnoses   | date of service | billed   |
      | <procedure> | <diagnoses> | 2026-03-10      | <billed> |
    Then the claim is <decision>
    And the payer pays <payer>
    And the provider writes off <written off>

    Examples:
      | service                                | outcome  | procedure | diagnoses    | billed     | decision | payer      | written off |
      | An excluded procedure                  | denied   | 15780     | L90.5        | 900.00 USD | denied   | 0.00 USD   | 900.00 USD  |
      | A visit for an excluded diagnosis      | denied   | 99213     | Z41.1        | 120.00 USD | denied   | 0.00 USD   | 120.00 USD  |
      | A visit for a covered diagnosis        | paid     | 99213     | J06.9        | 120.00 USD | approved | 120.00 USD | 0.00 USD    |

  Scenario: Each exclusion carries its own reason code
    When "Clinic A" submits a claim for member "M-1001" with:
      | procedure | diagnoses | date of service | billed     |
      | 15780     | L90.5     | 2026-03-10      | 900.00 USD |
      | 99213     | Z41.1     | 2026-03-10      | 120.00 USD |
      | 99213     | J06.9     | 2026-03-11      | 120.00 USD |
    Then the claim is approved
    And line 1 is not paid, reason CO-204
    And line 2 is not paid, reason CO-96
    And line 3 is paid 120.00 USD
