//! The row boundary of the states stored as text: each decodes from and binds as its name, so
//! rows carry typed values and a query binds them directly. The stored text is the name the
//! enum gives (`domain::named_enum!`), the same text earlier versions wrote.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::domain::concurrency::ConcurrencyPolicy;
use crate::domain::delivery::DeliveryOutcome;
use crate::domain::run_status::RunStatus;
use crate::domain::step_status::StepStatus;

macro_rules! stored_as_text {
    ($($ty:ty),+) => {$(
        impl<DB: Database> Type<DB> for $ty
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $ty
        where
            &'r str: Decode<'r, DB>,
        {
            /// An unknown name is a decode error (with the name), never a guess.
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let name = <&'r str as Decode<'r, DB>>::decode(value)?;
                Ok(name.parse::<$ty>()?)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $ty
        where
            String: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut DB::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                <String as Encode<'q, DB>>::encode(self.as_str().to_owned(), buf)
            }
        }
    )+};
}

stored_as_text!(RunStatus, StepStatus, DeliveryOutcome, ConcurrencyPolicy);
